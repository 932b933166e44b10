package resources

import (
	"errors"
	"maps"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
)

var (
	testPairsOnce sync.Once
	testPairs     []JWTKeyPair
)

// pairs returns three fixed RSA key pairs: A signs first, B is the next, C the one after.
func pairs(t *testing.T) (a, b, c JWTKeyPair) {
	t.Helper()
	testPairsOnce.Do(func() {
		for range 3 {
			priv, pub, err := NewRSAKeyPair(2048)
			if err != nil {
				panic(err)
			}
			testPairs = append(testPairs, JWTKeyPair{priv, pub})
		}
	})
	return testPairs[0], testPairs[1], testPairs[2]
}

func kid(t *testing.T, p JWTKeyPair) string {
	t.Helper()
	id, err := JWTKeyID(p.PublicPEM)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestPlanJWTRotationTimeline(t *testing.T) {
	a, b, c := pairs(t)
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	const interval = 90 * 24 * time.Hour
	const lifetime = 30*24*time.Hour + 15*time.Minute
	day := 24 * time.Hour
	newB := func() (JWTKeyPair, error) { return b, nil }

	type want struct {
		keys    JWTKeys
		changed bool
		events  []string
		requeue time.Duration
		verify  []string // kids of VerifyKeys; nil: no verification Secret
	}
	for _, tc := range []struct {
		name      string
		keys      JWTKeys
		interval  time.Duration
		rolledOut bool
		want      want
	}{{
		name: "fresh: the first rotation is scheduled one interval out", interval: interval,
		keys: JWTKeys{Signing: a},
		want: want{keys: JWTKeys{Signing: a, SigningSince: now}, changed: true, events: []string{"Scheduled"},
			requeue: interval, verify: []string{}},
	}, {
		name: "not due: nothing changes, requeue at the due time", interval: interval,
		keys: JWTKeys{Signing: a, SigningSince: now.Add(-10 * day)},
		want: want{keys: JWTKeys{Signing: a, SigningSince: now.Add(-10 * day)}, requeue: 80 * day, verify: []string{}},
	}, {
		name: "due: the next key is generated and goes to the pods, not yet signing", interval: interval,
		keys: JWTKeys{Signing: a, SigningSince: now.Add(-interval)},
		want: want{keys: JWTKeys{Signing: a, SigningSince: now.Add(-interval), Next: &b},
			changed: true, events: []string{"Generated"}, requeue: time.Minute, verify: []string{kid(t, b)}},
	}, {
		name: "generated, pods not rolled out, however long: signing waits", interval: interval,
		keys: JWTKeys{Signing: a, SigningSince: now.Add(-interval - day), Next: &b},
		want: want{keys: JWTKeys{Signing: a, SigningSince: now.Add(-interval - day), Next: &b},
			requeue: time.Minute, verify: []string{kid(t, b)}},
	}, {
		name: "generated and rolled out: every JWKS lists it now, the grace starts", interval: interval, rolledOut: true,
		keys: JWTKeys{Signing: a, SigningSince: now.Add(-interval - day), Next: &b},
		want: want{keys: JWTKeys{Signing: a, SigningSince: now.Add(-interval - day), Next: &b, NextPublishedAt: now},
			changed: true, events: []string{"Published"}, requeue: JWTPublishGrace, verify: []string{kid(t, b)}},
	}, {
		name: "published, JWKS caches may be stale: signing waits out the grace", interval: interval, rolledOut: true,
		keys: JWTKeys{Signing: a, SigningSince: now.Add(-interval), Next: &b, NextPublishedAt: now.Add(-4 * time.Minute)},
		want: want{keys: JWTKeys{Signing: a, SigningSince: now.Add(-interval), Next: &b, NextPublishedAt: now.Add(-4 * time.Minute)},
			requeue: 6 * time.Minute, verify: []string{kid(t, b)}},
	}, {
		name: "published, grace over, but a new rollout is under way: signing waits for it", interval: interval,
		keys: JWTKeys{Signing: a, SigningSince: now.Add(-interval - time.Hour), Next: &b, NextPublishedAt: now.Add(-time.Hour)},
		want: want{keys: JWTKeys{Signing: a, SigningSince: now.Add(-interval - time.Hour), Next: &b, NextPublishedAt: now.Add(-time.Hour)},
			requeue: time.Minute, verify: []string{kid(t, b)}},
	}, {
		name: "published, rolled out, grace over: signing switches, the old key stays published", interval: interval, rolledOut: true,
		keys: JWTKeys{Signing: a, SigningSince: now.Add(-interval - time.Hour), Next: &b, NextPublishedAt: now.Add(-time.Hour)},
		want: want{keys: JWTKeys{Signing: b, SigningSince: now, Retired: map[string]RetiredJWTKey{kid(t, a): {PublicPEM: a.PublicPEM}}},
			changed: true, events: []string{"Rotated"}, requeue: time.Minute, verify: []string{kid(t, a)}},
	}, {
		name: "switched, rollout not done: old pods may still sign, the countdown has not started", interval: interval,
		keys: JWTKeys{Signing: b, SigningSince: now.Add(-time.Hour), Retired: map[string]RetiredJWTKey{kid(t, a): {PublicPEM: a.PublicPEM}}},
		want: want{keys: JWTKeys{Signing: b, SigningSince: now.Add(-time.Hour), Retired: map[string]RetiredJWTKey{kid(t, a): {PublicPEM: a.PublicPEM}}},
			requeue: time.Minute, verify: []string{kid(t, a)}},
	}, {
		name: "switch rolled out: the old key verifies for the token lifetime plus grace", interval: interval, rolledOut: true,
		keys: JWTKeys{Signing: b, SigningSince: now.Add(-time.Hour), Retired: map[string]RetiredJWTKey{kid(t, a): {PublicPEM: a.PublicPEM}}},
		want: want{keys: JWTKeys{Signing: b, SigningSince: now.Add(-time.Hour), Retired: map[string]RetiredJWTKey{
			kid(t, a): {PublicPEM: a.PublicPEM, Until: now.Add(lifetime + JWTPublishGrace)}}},
			changed: true, events: []string{"Retired"}, requeue: lifetime + JWTPublishGrace, verify: []string{kid(t, a)}},
	}, {
		name: "old key's last token expired: it is dropped", interval: interval,
		keys: JWTKeys{Signing: b, SigningSince: now.Add(-31 * day), Retired: map[string]RetiredJWTKey{kid(t, a): {PublicPEM: a.PublicPEM, Until: now}}},
		want: want{keys: JWTKeys{Signing: b, SigningSince: now.Add(-31 * day), Retired: map[string]RetiredJWTKey{}},
			changed: true, events: []string{"Expired"}, requeue: interval - 31*day, verify: []string{}},
	}, {
		name: "a short interval: a second key is published while the first retired one still verifies", interval: 24 * time.Hour,
		keys: JWTKeys{Signing: b, SigningSince: now.Add(-day), Retired: map[string]RetiredJWTKey{kid(t, a): {PublicPEM: a.PublicPEM, Until: now.Add(29 * day)}}},
		want: want{keys: JWTKeys{Signing: b, SigningSince: now.Add(-day), Next: &c,
			Retired: map[string]RetiredJWTKey{kid(t, a): {PublicPEM: a.PublicPEM, Until: now.Add(29 * day)}}},
			changed: true, events: []string{"Generated"}, requeue: time.Minute, verify: []string{kid(t, a), kid(t, c)}},
	}, {
		name: "rotation turned off mid-way: the unused next key is discarded, retired keys still expire on time",
		keys: JWTKeys{Signing: b, SigningSince: now.Add(-interval), Next: &c, NextPublishedAt: now.Add(-time.Hour),
			Retired: map[string]RetiredJWTKey{kid(t, a): {PublicPEM: a.PublicPEM, Until: now.Add(day)}}},
		want: want{keys: JWTKeys{Signing: b, SigningSince: now.Add(-interval), Retired: map[string]RetiredJWTKey{
			kid(t, a): {PublicPEM: a.PublicPEM, Until: now.Add(day)}}},
			changed: true, events: []string{"Discarded"}, requeue: day, verify: []string{kid(t, a)}},
	}, {
		name: "rotation off, nothing retiring (also brought keys): nothing to do, no verification Secret",
		keys: JWTKeys{Signing: a},
		want: want{keys: JWTKeys{Signing: a}, verify: nil},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			newKey := newB
			if tc.want.keys.Next != nil && tc.want.keys.Next == &c {
				newKey = func() (JWTKeyPair, error) { return c, nil }
			}
			p, err := PlanJWTRotation(JWTRotationInput{Keys: tc.keys, Interval: tc.interval, TokenLifetime: lifetime,
				RolledOut: tc.rolledOut, Now: now, NewKeyPair: newKey})
			if err != nil {
				t.Fatal(err)
			}
			w := tc.want
			if w.keys.Retired == nil {
				w.keys.Retired = map[string]RetiredJWTKey{}
			}
			if !jwtKeysEqual(p.Keys, w.keys) {
				t.Errorf("keys:\n got %s\nwant %s", describeKeys(t, p.Keys), describeKeys(t, w.keys))
			}
			if p.Changed != w.changed {
				t.Errorf("changed = %v, want %v", p.Changed, w.changed)
			}
			var reasons []string
			for _, e := range p.Events {
				reasons = append(reasons, e.Reason)
			}
			if !slices.Equal(reasons, w.events) {
				t.Errorf("events = %v, want %v", reasons, w.events)
			}
			if p.RequeueAfter != w.requeue {
				t.Errorf("requeue = %v, want %v", p.RequeueAfter, w.requeue)
			}
			v, err := p.Keys.VerifyKeys(tc.interval > 0)
			if err != nil {
				t.Fatal(err)
			}
			if (v == nil) != (w.verify == nil) {
				t.Fatalf("verify keys = %v, want nil=%v", v, w.verify == nil)
			}
			var got []string
			for name := range v {
				got = append(got, name)
			}
			var wantNames []string
			for _, k := range w.verify {
				wantNames = append(wantNames, k+".pem")
			}
			slices.Sort(got)
			slices.Sort(wantNames)
			if !slices.Equal(got, wantNames) {
				t.Errorf("verify files = %v, want %v", got, wantNames)
			}
			if p.Changed == false && len(p.Events) > 0 {
				t.Error("events without a change")
			}
		})
	}
}

// A simulated week of rotations with rolling updates that take 27 minutes (longer than the
// publish grace): pods load a key state when they start and keep it, and old and new pods serve
// side by side until a rollout finishes. A relying party caches the JWKS of the oldest serving pod
// for 300 s (the server's max-age). Invariants: a new pod verifies every token signed within the
// token lifetime, every serving pod verifies the tokens a new pod signs, and the relying party's
// cached JWKS lists every key that signs.
func TestPlanJWTRotationNeverLogsAnybodyOut(t *testing.T) {
	a, b, c := pairs(t)
	next := []JWTKeyPair{b, c, a, b, c, a, b, c}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const interval, lifetime, rolloutTime = 48 * time.Hour, 2 * time.Hour, 27 * time.Minute
	type pod struct {
		signer   string
		verifies map[string]bool
	}
	load := func(k JWTKeys) pod {
		v, err := k.VerifyKeys(true)
		if err != nil {
			t.Fatal(err)
		}
		p := pod{signer: kid(t, k.Signing), verifies: map[string]bool{kid(t, k.Signing): true}}
		for _, id := range verifyKIDs(v) {
			p.verifies[id] = true
		}
		return p
	}
	keys := JWTKeys{Signing: a}
	pods := []pod{load(keys)}
	var rolloutStarted, rpFetched time.Time
	var rpCache map[string]bool
	lastSigned := map[string]time.Time{}
	rotations := 0
	for step := 0; now.Before(time.Date(2026, 1, 8, 0, 0, 0, 0, time.UTC)); step++ {
		if step > 5000 {
			t.Fatal("the timeline does not advance")
		}
		// Pods sign between reconciles too: older pods until the rollout ends, the newest until now.
		for _, p := range pods[:len(pods)-1] {
			end := rolloutStarted.Add(rolloutTime)
			if now.Before(end) {
				end = now
			}
			lastSigned[p.signer] = end
		}
		if len(pods) > 1 && now.Sub(rolloutStarted) >= rolloutTime {
			pods = pods[len(pods)-1:] // the rollout finished: only the newest template serves
		}
		lastSigned[pods[len(pods)-1].signer] = now
		if rpCache == nil || now.Sub(rpFetched) >= 300*time.Second {
			rpCache, rpFetched = pods[0].verifies, now
		}
		for _, p := range pods {
			if !rpCache[p.signer] {
				t.Fatalf("%s: a relying party's cached JWKS lacks the signing key %s", now, p.signer[:6])
			}
		}
		want := load(keys)
		rolledOut := len(pods) == 1 && maps.Equal(pods[0].verifies, want.verifies)
		plan, err := PlanJWTRotation(JWTRotationInput{Keys: keys, Interval: interval, TokenLifetime: lifetime,
			RolledOut: rolledOut, Now: now, NewKeyPair: func() (JWTKeyPair, error) { k := next[0]; next = next[1:]; return k, nil }})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range plan.Events {
			if e.Reason == "Rotated" {
				rotations++
			}
		}
		s := &corev1.Secret{} // round-trip through a Secret, as the reconciler stores it
		plan.Keys.WriteTo(s)
		if keys, err = ReadJWTKeys(s); err != nil {
			t.Fatal(err)
		}
		if plan.Changed {
			// A rolling update starts: new pods serve beside every older one still running.
			np := load(keys)
			for id, at := range lastSigned {
				if now.Sub(at) <= lifetime && !np.verifies[id] {
					t.Fatalf("%s: new pods would reject live tokens of key %s", now, id[:6])
				}
			}
			for _, p := range pods {
				if !p.verifies[np.signer] {
					t.Fatalf("%s: serving pods would reject tokens the new pods sign with %s", now, np.signer[:6])
				}
			}
			pods, rolloutStarted = append(pods, np), now
		}
		now = now.Add(min(max(plan.RequeueAfter, time.Minute), 6*time.Hour))
	}
	if rotations < 3 {
		t.Fatalf("%d rotations in a week at a 48h interval", rotations)
	}
	if len(keys.Retired) > 1 {
		t.Fatalf("expired keys still published: %d retired", len(keys.Retired))
	}
}

func verifyKIDs(v map[string][]byte) []string {
	var out []string
	for name := range v {
		out = append(out, name[:len(name)-len(".pem")])
	}
	return out
}

func TestPlanJWTRotationKeyGenerationFailure(t *testing.T) {
	a, _, _ := pairs(t)
	now := time.Now()
	_, err := PlanJWTRotation(JWTRotationInput{Keys: JWTKeys{Signing: a, SigningSince: now.Add(-48 * time.Hour)},
		Interval: 24 * time.Hour, Now: now, NewKeyPair: func() (JWTKeyPair, error) { return JWTKeyPair{}, errors.New("no entropy") }})
	if err == nil {
		t.Fatal("a failed key generation must fail the plan")
	}
}

func jwtKeysEqual(x, y JWTKeys) bool {
	eqPair := func(p, q *JWTKeyPair) bool {
		if p == nil || q == nil {
			return p == q
		}
		return string(p.PrivatePEM) == string(q.PrivatePEM) && string(p.PublicPEM) == string(q.PublicPEM)
	}
	if !eqPair(&x.Signing, &y.Signing) || !eqPair(x.Next, y.Next) || !x.SigningSince.Equal(y.SigningSince) ||
		!x.NextPublishedAt.Equal(y.NextPublishedAt) || len(x.Retired) != len(y.Retired) {
		return false
	}
	for k, r := range x.Retired {
		o, ok := y.Retired[k]
		if !ok || string(o.PublicPEM) != string(r.PublicPEM) || !o.Until.Equal(r.Until) {
			return false
		}
	}
	return true
}

func describeKeys(t *testing.T, k JWTKeys) string {
	s := "signing=" + kid(t, k.Signing)[:6] + " since=" + formatTime(k.SigningSince)
	if k.Next != nil {
		s += " next=" + kid(t, *k.Next)[:6] + " at=" + formatTime(k.NextPublishedAt)
	}
	for id, r := range k.Retired {
		s += " retired=" + id[:6] + " until=" + formatTime(r.Until)
	}
	return s
}

func TestJWTTokenLifetime(t *testing.T) {
	for _, tc := range []struct {
		access, refresh int32
		want            time.Duration
	}{
		{900, 2592000, 30*24*time.Hour + 15*time.Minute},
		{1, 2, 3 * time.Second},
		{math.MaxInt32, math.MaxInt32, 2 * math.MaxInt32 * time.Second}, // no int32 overflow
	} {
		if got := JWTTokenLifetime(heimdallv1.TokensSpec{AccessTokenLifetimeSeconds: tc.access, RefreshTokenLifetimeSeconds: tc.refresh}); got != tc.want {
			t.Errorf("JWTTokenLifetime(%d, %d) = %v, want %v", tc.access, tc.refresh, got, tc.want)
		}
	}
}
