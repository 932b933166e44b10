package fusionauthfake_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/heimdall-io/heimdall-operator/server/fusionauthfake"
)

func call(t *testing.T, method, url, key, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if key != "" {
		req.Header.Set("Authorization", key)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestFakeFollowsFusionAuthShapes(t *testing.T) {
	f := fusionauthfake.Start(fusionauthfake.Options{APIKey: "secret", LockAfter: 2})
	defer f.Close()
	reg := `{"user":{"email":"x@example.com","password":"passw0rd!"},"registration":{"applicationId":"app"}}`

	for _, key := range []string{"", "wrong", "Bearer secret"} {
		st, b := call(t, "POST", f.URL+"/api/user/registration", key, reg)
		if st != 401 || len(b) != 0 {
			t.Fatalf("key %q: %d %q", key, st, b)
		}
	}
	st, b := call(t, "POST", f.URL+"/api/user/registration", "secret", reg)
	var out struct {
		User struct {
			ID string `json:"id"`
		} `json:"user"`
		Registration struct {
			ApplicationID string `json:"applicationId"`
		} `json:"registration"`
	}
	if st != 200 || json.Unmarshal(b, &out) != nil || out.User.ID == "" || out.Registration.ApplicationID != "app" {
		t.Fatalf("register: %d %s", st, b)
	}
	st, b = call(t, "POST", f.URL+"/api/user/registration", "secret", reg)
	var errs struct {
		FieldErrors map[string][]struct{ Code string } `json:"fieldErrors"`
	}
	if st != 400 || json.Unmarshal(b, &errs) != nil || errs.FieldErrors["user.email"][0].Code != "[duplicate]user.email" {
		t.Fatalf("duplicate: %d %s", st, b)
	}
	login := func(pw string) int {
		st, _ := call(t, "POST", f.URL+"/api/login", "secret", `{"loginId":"x@example.com","password":"`+pw+`","applicationId":"app"}`)
		return st
	}
	if login("passw0rd!") != 200 {
		t.Fatal("login")
	}
	if st, _ := call(t, "POST", f.URL+"/api/login", "secret", `{"loginId":"x@example.com","password":"passw0rd!","applicationId":"other"}`); st != 202 {
		t.Fatalf("unregistered app: %d", st)
	}
	if login("nope") != 404 || login("nope") != 404 || login("passw0rd!") != 423 {
		t.Fatal("lockout after 2 failures")
	}
	if st, b := call(t, "GET", f.URL+"/api/user/"+out.User.ID, "secret", ""); st != 200 || !strings.Contains(string(b), "x@example.com") {
		t.Fatalf("get: %d", st)
	}
	if st, _ := call(t, "GET", f.URL+"/api/user?email=x@example.com", "secret", ""); st != 200 {
		t.Fatalf("get by email: %d", st)
	}
	if st, b := call(t, "DELETE", f.URL+"/api/user/"+out.User.ID+"?hardDelete=true", "secret", ""); st != 200 || len(b) != 0 {
		t.Fatalf("delete: %d", st)
	}
	if st, b := call(t, "GET", f.URL+"/api/user/"+out.User.ID, "secret", ""); st != 404 || len(b) != 0 {
		t.Fatalf("get deleted: %d", st)
	}
	if st, _ := call(t, "GET", f.URL+"/api/health", "", ""); st != 200 {
		t.Fatal("health")
	}
	f.SetUnhealthy(true)
	if st, _ := call(t, "GET", f.URL+"/api/health", "", ""); st != 500 {
		t.Fatal("unhealthy")
	}
	if st, b := call(t, "GET", f.URL+"/api/status", "", ""); st != 200 || !strings.Contains(string(b), `"ok"`) {
		t.Fatal("status")
	}
}
