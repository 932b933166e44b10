package resources

import (
	"fmt"
	"maps"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
)

// Timing of the rotation timeline (the state it moves is in jwtkeys.go).
const (
	// JWTPublishGrace is how long a published key waits before it signs: longer than the JWKS
	// Cache-Control max-age (300 s), so relying parties have refetched it. It is also added to
	// a retired key's lifetime to cover pods still draining after the switch.
	JWTPublishGrace = 10 * time.Minute
	// jwtRolloutPoll rechecks a rollout the Deployment watch has not reported yet.
	jwtRolloutPoll = time.Minute
)

// JWTRotationInput is everything the rotation timeline depends on.
type JWTRotationInput struct {
	Keys JWTKeys
	// Interval between rotations; 0 means rotation is off (retired keys still expire).
	Interval time.Duration
	// TokenLifetime is how long after its last signature a key must still verify: the refresh
	// plus the access token lifetime.
	TokenLifetime time.Duration
	// RolledOut says every server pod runs a template that loaded Keys' verification keys.
	RolledOut bool
	Now       time.Time
	// NewKeyPair makes the next key pair (crypto/rand in production, fixed keys in tests).
	NewKeyPair func() (JWTKeyPair, error)
}

// JWTTokenLifetime is how long a key must keep verifying after its last signature: the refresh
// plus the access token lifetime (summed as durations: int32 seconds could overflow).
func JWTTokenLifetime(t heimdallv1.TokensSpec) time.Duration {
	return time.Duration(t.RefreshTokenLifetimeSeconds)*time.Second + time.Duration(t.AccessTokenLifetimeSeconds)*time.Second
}

// JWTRotationPlan is what the Secret should hold next and what happened.
type JWTRotationPlan struct {
	Keys    JWTKeys
	Changed bool
	// Events name each step taken: Scheduled, Generated, Published, Rotated, Retired, Expired,
	// Discarded.
	Events []JWTRotationEvent
	// RequeueAfter is when the timeline next needs a look (0: never).
	RequeueAfter time.Duration
}

// JWTRotationEvent is one step of the timeline, for an Event and the log.
type JWTRotationEvent struct{ Reason, Message string }

// PlanJWTRotation advances the rotation timeline by every step that is due at in.Now. It never
// lets a key sign before every pod verifies it, and keeps a key verifying until its last token
// has expired, so no token in flight is ever rejected.
func PlanJWTRotation(in JWTRotationInput) (JWTRotationPlan, error) {
	in.Now = in.Now.UTC().Truncate(time.Second) // what RFC 3339 annotations keep
	p := JWTRotationPlan{Keys: in.Keys}
	k := &p.Keys
	k.Retired = maps.Clone(in.Keys.Retired)
	if k.Retired == nil {
		k.Retired = map[string]RetiredJWTKey{}
	}
	step := func(reason, format string, a ...any) {
		p.Changed = true
		if reason != "" {
			p.Events = append(p.Events, JWTRotationEvent{reason, fmt.Sprintf(format, a...)})
		}
	}
	if in.Interval > 0 && k.SigningSince.IsZero() {
		k.SigningSince = in.Now
		step("Scheduled", "JWT key rotation every %s, first at %s", in.Interval, formatTime(in.Now.Add(in.Interval)))
	}
	// Retired keys first, against the state the rollout check was made for.
	for _, kid := range slices.Sorted(maps.Keys(k.Retired)) {
		r := k.Retired[kid]
		switch {
		case r.Until.IsZero() && in.RolledOut:
			r.Until = in.Now.Add(in.TokenLifetime + JWTPublishGrace)
			k.Retired[kid] = r
			step("Retired", "JWT key %s no longer signs; it verifies until %s", kid, formatTime(r.Until))
		case !r.Until.IsZero() && !in.Now.Before(r.Until):
			delete(k.Retired, kid)
			step("Expired", "JWT key %s dropped: every token it signed has expired", kid)
		}
	}
	switch {
	case k.Next != nil && in.Interval == 0:
		// Rotation turned off mid-way: the next key never signed, so dropping it is safe.
		k.Next, k.NextPublishedAt = nil, time.Time{}
		step("Discarded", "JWT rotation turned off; the unused next key is discarded")
	case k.Next != nil && k.NextPublishedAt.IsZero() && in.RolledOut:
		// Only now does every JWKS response list the key; relying parties' caches start to learn it.
		k.NextPublishedAt = in.Now
		step("Published", "Every server pod publishes JWT key %s; it signs from %s", kidOf(k.Next.PublicPEM),
			formatTime(in.Now.Add(JWTPublishGrace)))
	case k.Next != nil && !k.NextPublishedAt.IsZero() && in.RolledOut && !in.Now.Before(k.NextPublishedAt.Add(JWTPublishGrace)):
		oldKID, err := JWTKeyID(k.Signing.PublicPEM)
		if err != nil {
			return p, fmt.Errorf("current key: %w", err)
		}
		newKID, err := JWTKeyID(k.Next.PublicPEM)
		if err != nil {
			return p, fmt.Errorf("next key: %w", err)
		}
		k.Retired[oldKID] = RetiredJWTKey{PublicPEM: k.Signing.PublicPEM}
		k.Signing, k.Next = *k.Next, nil
		k.SigningSince, k.NextPublishedAt = in.Now, time.Time{}
		step("Rotated", "JWT signing switched from key %s to %s", oldKID, newKID)
	case k.Next == nil && in.Interval > 0 && !in.Now.Before(k.SigningSince.Add(in.Interval)):
		pair, err := in.NewKeyPair()
		if err != nil {
			return p, fmt.Errorf("generate next JWT key: %w", err)
		}
		kid, err := JWTKeyID(pair.PublicPEM)
		if err != nil {
			return p, fmt.Errorf("next key: %w", err)
		}
		k.Next = &pair
		step("Generated", "JWT key %s generated; it is being published to every server pod", kid)
	}
	p.RequeueAfter = nextDue(*k, in)
	return p, nil
}

// nextDue is how long until the next step of k's timeline can happen.
func nextDue(k JWTKeys, in JWTRotationInput) time.Duration {
	var due []time.Time
	if k.Next == nil && in.Interval > 0 {
		due = append(due, k.SigningSince.Add(in.Interval))
	}
	waitingForRollout := k.Next != nil && (k.NextPublishedAt.IsZero() || !in.RolledOut)
	if k.Next != nil && !k.NextPublishedAt.IsZero() {
		due = append(due, k.NextPublishedAt.Add(JWTPublishGrace))
	}
	for _, r := range k.Retired {
		if r.Until.IsZero() {
			waitingForRollout = true
		} else {
			due = append(due, r.Until)
		}
	}
	if waitingForRollout {
		// The Deployment watch usually reports the rollout first; this is the fallback.
		due = append(due, in.Now.Add(jwtRolloutPoll))
	}
	// A time already past is not what holds the step up (the rollout is), so it is no due time.
	due = slices.DeleteFunc(due, func(t time.Time) bool { return !t.After(in.Now) })
	if len(due) == 0 {
		return 0
	}
	return slices.MinFunc(due, time.Time.Compare).Sub(in.Now)
}

// JWTStatus reports the state for status.jwt.
func JWTStatus(k JWTKeys, interval time.Duration) (*heimdallv1.JWTStatus, error) {
	st := &heimdallv1.JWTStatus{}
	var err error
	if st.CurrentKeyID, err = JWTKeyID(k.Signing.PublicPEM); err != nil {
		return nil, err
	}
	ids := []string{st.CurrentKeyID}
	if k.Next != nil {
		if st.PendingKeyID, err = JWTKeyID(k.Next.PublicPEM); err != nil {
			return nil, err
		}
		ids = append(ids, st.PendingKeyID)
	}
	st.PublishedKeyIDs = append(ids, slices.Sorted(maps.Keys(k.Retired))...)
	if !k.SigningSince.IsZero() {
		st.LastRotationTime = &metav1.Time{Time: k.SigningSince}
		if interval > 0 {
			st.NextRotationTime = &metav1.Time{Time: k.SigningSince.Add(interval)}
		}
	}
	return st, nil
}
