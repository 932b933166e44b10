// Package fusionauthfake is an in-memory, FusionAuth-compatible HTTP server
// for tests and local demos. Its paths, JSON shapes and status codes follow
// the FusionAuth API reference (see docs/fusionauth-api.md): the API key is
// checked from the Authorization header (401 with an empty body when wrong),
// users are kept in memory with real (salted SHA-256) password checks, and an
// account can be locked (423) after N failed logins.
//
// It is not FusionAuth: only the calls Heimdall makes are served.
package fusionauthfake

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Options configure the fake.
type Options struct {
	APIKey string
	// LockAfter locks an account (login answers 423) after this many
	// consecutive failed logins; 0 never locks.
	LockAfter int
	// MinPasswordLength is FusionAuth's password rule (default 8).
	MinPasswordLength int
}

// Fake is the FusionAuth-compatible handler.
type Fake struct {
	opts Options

	mu          sync.Mutex
	users       map[string]*user // by id
	down        bool
	unhealthy   bool
	tenantHdrs  []string
	loginCalls  int
	failedCalls map[string]int
}

type user struct {
	ID, Email, FirstName, LastName, PhoneNumber string
	TenantID                                    string
	Salt, Hash                                  string
	Data                                        map[string]any
	Active, Verified, Locked                    bool
	Registrations                               []registration
	Insert, LastLogin                           time.Time
}

type registration struct {
	ID            string   `json:"id"`
	ApplicationID string   `json:"applicationId"`
	Roles         []string `json:"roles"`
	Verified      bool     `json:"verified"`
	InsertInstant int64    `json:"insertInstant"`
}

// New returns a fake with no users.
func New(o Options) *Fake {
	if o.MinPasswordLength == 0 {
		o.MinPasswordLength = 8
	}
	return &Fake{opts: o, users: map[string]*user{}, failedCalls: map[string]int{}}
}

// Server is a running fake (an httptest.Server).
type Server struct {
	*Fake
	*httptest.Server
}

// Start serves a new fake on a loopback port. Close it when done.
func Start(o Options) *Server {
	f := New(o)
	return &Server{Fake: f, Server: httptest.NewServer(f)}
}

// DefaultTenantID is the tenant id users get in the fake.
const DefaultTenantID = "a1b2c3d4-0000-4000-8000-00000000fa01"

// SetDown makes every call answer 503 (true) or behave normally (false).
func (f *Fake) SetDown(down bool) { f.mu.Lock(); f.down = down; f.mu.Unlock() }

// SetUnhealthy makes GET /api/health answer 500.
func (f *Fake) SetUnhealthy(b bool) { f.mu.Lock(); f.unhealthy = b; f.mu.Unlock() }

// UserCount is the number of stored users.
func (f *Fake) UserCount() int { f.mu.Lock(); defer f.mu.Unlock(); return len(f.users) }

// HasUser reports whether a user with that id exists.
func (f *Fake) HasUser(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.users[id]
	return ok
}

// TenantHeaders returns the X-FusionAuth-TenantId values seen so far ("" when absent).
func (f *Fake) TenantHeaders() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.tenantHdrs...)
}

// Unlock clears a lock and the failure count of a user.
func (f *Fake) Unlock(email string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if u := f.byEmail(email); u != nil {
		u.Locked = false
		delete(f.failedCalls, u.ID)
	}
}

func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.tenantHdrs = append(f.tenantHdrs, r.Header.Get("X-FusionAuth-TenantId"))
	down, unhealthy := f.down, f.unhealthy
	f.mu.Unlock()
	if down {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"generalErrors": []errItem{{"[ServiceUnavailable]", "service unavailable"}}})
		return
	}
	path := r.URL.Path
	switch {
	case path == "/api/health" && r.Method == http.MethodGet:
		if unhealthy {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
		return
	case path == "/api/status" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		return
	case path == "/api/logout" && r.Method == http.MethodPost:
		w.WriteHeader(http.StatusOK)
		return
	}
	if !f.keyOK(r) {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	switch {
	case (path == "/api/user/registration" || strings.HasPrefix(path, "/api/user/registration/")) && r.Method == http.MethodPost:
		f.register(w, r, strings.TrimPrefix(strings.TrimPrefix(path, "/api/user/registration"), "/"))
	case path == "/api/login" && r.Method == http.MethodPost:
		f.login(w, r)
	case path == "/api/user/change-password" && r.Method == http.MethodPost:
		f.changePassword(w, r)
	case path == "/api/user" && r.Method == http.MethodGet:
		f.mu.Lock()
		u := f.byEmail(r.URL.Query().Get("email"))
		f.mu.Unlock()
		f.answerUser(w, u)
	case strings.HasPrefix(path, "/api/user/"):
		id := strings.TrimPrefix(path, "/api/user/")
		switch r.Method {
		case http.MethodGet:
			f.mu.Lock()
			u := f.users[id]
			f.mu.Unlock()
			f.answerUser(w, u)
		case http.MethodPatch:
			f.patch(w, r, id)
		case http.MethodDelete:
			f.mu.Lock()
			_, ok := f.users[id]
			delete(f.users, id)
			f.mu.Unlock()
			if !ok {
				w.WriteHeader(http.StatusNotFound)
				return
			}
			w.WriteHeader(http.StatusOK)
		default:
			w.WriteHeader(http.StatusMethodNotAllowed)
		}
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

func (f *Fake) keyOK(r *http.Request) bool {
	got := r.Header.Get("Authorization")
	return f.opts.APIKey != "" && subtle.ConstantTimeCompare([]byte(got), []byte(f.opts.APIKey)) == 1
}

type errItem struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type fieldErrors map[string][]errItem

func (fe fieldErrors) add(field, code, msg string) { fe[field] = append(fe[field], errItem{code, msg}) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeFieldErrors(w http.ResponseWriter, fe fieldErrors) {
	writeJSON(w, http.StatusBadRequest, map[string]any{"fieldErrors": fe})
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"generalErrors": []errItem{{"[invalidJSON]", "invalid JSON: " + err.Error()}}})
		return false
	}
	return true
}

type userJSON struct {
	ID               string         `json:"id,omitempty"`
	Email            string         `json:"email,omitempty"`
	Password         string         `json:"password,omitempty"`
	FirstName        string         `json:"firstName,omitempty"`
	LastName         string         `json:"lastName,omitempty"`
	PhoneNumber      string         `json:"phoneNumber,omitempty"`
	Data             map[string]any `json:"data,omitempty"`
	Active           bool           `json:"active"`
	Verified         bool           `json:"verified"`
	TenantID         string         `json:"tenantId,omitempty"`
	Registrations    []registration `json:"registrations,omitempty"`
	InsertInstant    int64          `json:"insertInstant,omitempty"`
	LastLoginInstant int64          `json:"lastLoginInstant,omitempty"`
}

func (u *user) json() userJSON {
	j := userJSON{
		ID: u.ID, Email: u.Email, FirstName: u.FirstName, LastName: u.LastName, PhoneNumber: u.PhoneNumber,
		Data: u.Data, Active: u.Active, Verified: u.Verified, TenantID: u.TenantID,
		Registrations: u.Registrations, InsertInstant: u.Insert.UnixMilli(),
	}
	if !u.LastLogin.IsZero() {
		j.LastLoginInstant = u.LastLogin.UnixMilli()
	}
	return j
}

func (f *Fake) byEmail(email string) *user {
	for _, u := range f.users {
		if strings.EqualFold(u.Email, email) {
			return u
		}
	}
	return nil
}

func (f *Fake) answerUser(w http.ResponseWriter, u *user) {
	if u == nil {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	f.mu.Lock()
	j := u.json()
	f.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"user": j})
}

func hashPassword(salt, pw string) string {
	s := sha256.Sum256([]byte(salt + ":" + pw))
	return hex.EncodeToString(s[:])
}

func newSalt() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (f *Fake) register(w http.ResponseWriter, r *http.Request, id string) {
	var req struct {
		User         userJSON `json:"user"`
		Registration struct {
			ApplicationID string   `json:"applicationId"`
			Roles         []string `json:"roles"`
		} `json:"registration"`
		SkipVerification bool `json:"skipVerification"`
	}
	if !decode(w, r, &req) {
		return
	}
	fe := fieldErrors{}
	if req.User.Email == "" {
		fe.add("user.email", "[blank]user.email", "You must specify the [user.email] property.")
	} else if _, err := mail.ParseAddress(req.User.Email); err != nil {
		fe.add("user.email", "[notEmail]user.email", "The [user.email] property is not a valid email address.")
	}
	if req.User.Password == "" {
		fe.add("user.password", "[blank]user.password", "You must specify the [user.password] property.")
	} else if len(req.User.Password) < f.opts.MinPasswordLength {
		fe.add("user.password", "[tooShort]user.password", "The [user.password] property is shorter than the minimum.")
	}
	if req.Registration.ApplicationID == "" {
		fe.add("registration.applicationId", "[blank]registration.applicationId", "You must specify the [registration.applicationId] property.")
	}
	if id != "" {
		if _, err := uuid.Parse(id); err != nil {
			fe.add("userId", "[invalid]userId", "The user id is not a UUID.")
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if req.User.Email != "" && f.byEmail(req.User.Email) != nil {
		fe.add("user.email", "[duplicate]user.email", "A User with email = ["+req.User.Email+"] already exists.")
	}
	if id != "" && f.users[id] != nil {
		fe.add("userId", "[duplicate]userId", "A User with Id = ["+id+"] already exists.")
	}
	if len(fe) > 0 {
		writeFieldErrors(w, fe)
		return
	}
	if id == "" {
		id = uuid.NewString()
	}
	now := time.Now()
	salt := newSalt()
	u := &user{
		ID: id, Email: req.User.Email, FirstName: req.User.FirstName, LastName: req.User.LastName,
		PhoneNumber: req.User.PhoneNumber, Data: req.User.Data, TenantID: DefaultTenantID,
		Salt: salt, Hash: hashPassword(salt, req.User.Password),
		Active: true, Verified: req.SkipVerification, Insert: now,
		Registrations: []registration{{
			ID: uuid.NewString(), ApplicationID: req.Registration.ApplicationID, Roles: req.Registration.Roles,
			Verified: true, InsertInstant: now.UnixMilli(),
		}},
	}
	f.users[id] = u
	writeJSON(w, http.StatusOK, map[string]any{"user": u.json(), "registration": u.Registrations[0]})
}

func (f *Fake) login(w http.ResponseWriter, r *http.Request) {
	var req struct {
		LoginID       string `json:"loginId"`
		Password      string `json:"password"`
		ApplicationID string `json:"applicationId"`
	}
	if !decode(w, r, &req) {
		return
	}
	fe := fieldErrors{}
	if req.LoginID == "" {
		fe.add("loginId", "[blank]loginId", "You must specify the [loginId] property.")
	}
	if req.Password == "" {
		fe.add("password", "[blank]password", "You must specify the [password] property.")
	}
	if len(fe) > 0 {
		writeFieldErrors(w, fe)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.loginCalls++
	u := f.byEmail(req.LoginID)
	if u == nil || !u.Active {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	if u.Locked {
		w.WriteHeader(http.StatusLocked)
		return
	}
	if subtle.ConstantTimeCompare([]byte(hashPassword(u.Salt, req.Password)), []byte(u.Hash)) != 1 {
		f.failedCalls[u.ID]++
		if f.opts.LockAfter > 0 && f.failedCalls[u.ID] >= f.opts.LockAfter {
			u.Locked = true
		}
		w.WriteHeader(http.StatusNotFound)
		return
	}
	delete(f.failedCalls, u.ID)
	u.LastLogin = time.Now()
	if req.ApplicationID != "" {
		registered := false
		for _, reg := range u.Registrations {
			if reg.ApplicationID == req.ApplicationID {
				registered = true
			}
		}
		if !registered {
			writeJSON(w, http.StatusAccepted, map[string]any{"user": u.json()})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"user": u.json(), "token": "fake." + uuid.NewString(), "tokenExpirationInstant": time.Now().Add(time.Hour).UnixMilli(),
	})
}

func (f *Fake) changePassword(w http.ResponseWriter, r *http.Request) {
	var req struct {
		LoginID         string `json:"loginId"`
		CurrentPassword string `json:"currentPassword"`
		Password        string `json:"password"`
	}
	if !decode(w, r, &req) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	u := f.byEmail(req.LoginID)
	if u == nil {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	fe := fieldErrors{}
	if hashPassword(u.Salt, req.CurrentPassword) != u.Hash {
		fe.add("currentPassword", "[mismatch]currentPassword", "Your current password is incorrect.")
	}
	if len(req.Password) < f.opts.MinPasswordLength {
		fe.add("password", "[tooShort]password", "The [password] property is shorter than the minimum.")
	}
	if len(fe) > 0 {
		writeFieldErrors(w, fe)
		return
	}
	u.Salt = newSalt()
	u.Hash = hashPassword(u.Salt, req.Password)
	w.WriteHeader(http.StatusOK)
}

func (f *Fake) patch(w http.ResponseWriter, r *http.Request, id string) {
	var req struct {
		User map[string]json.RawMessage `json:"user"`
	}
	if !decode(w, r, &req) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	u := f.users[id]
	if u == nil {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	str := func(k string, dst *string) {
		if raw, ok := req.User[k]; ok {
			var s *string
			_ = json.Unmarshal(raw, &s)
			if s == nil {
				*dst = ""
			} else {
				*dst = *s
			}
		}
	}
	str("firstName", &u.FirstName)
	str("lastName", &u.LastName)
	str("phoneNumber", &u.PhoneNumber)
	if raw, ok := req.User["data"]; ok {
		var d map[string]any
		_ = json.Unmarshal(raw, &d)
		u.Data = d
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": u.json()})
}
