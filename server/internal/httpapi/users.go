package httpapi

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/heimdall-io/heimdall-operator/server/internal/apperr"
	"github.com/heimdall-io/heimdall-operator/server/internal/store"
)

func itoa(n int) string { return strconv.Itoa(n) }

func (s *Server) getMe(w http.ResponseWriter, r *http.Request) error {
	u, err := s.user(r.Context(), info(r.Context()).Claims.Subject)
	if err != nil {
		return err
	}
	s.writeData(w, r, http.StatusOK, u)
	return nil
}

type patchMeReq struct {
	FirstName      *string        `json:"firstName"`
	LastName       *string        `json:"lastName"`
	PhoneNumber    *string        `json:"phoneNumber"`
	ProfilePicture *string        `json:"profilePicture"`
	Metadata       map[string]any `json:"metadata"`
}

func (s *Server) patchMe(w http.ResponseWriter, r *http.Request) error {
	var req patchMeReq
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	fields := map[string]string{}
	str := func(name string, v *string, n int, required bool) {
		if v == nil {
			return
		}
		if required && *v == "" {
			fields[name] = "must not be empty"
		}
		maxLen(fields, name, *v, n)
	}
	str("firstName", req.FirstName, 100, true)
	str("lastName", req.LastName, 100, true)
	str("phoneNumber", req.PhoneNumber, 32, false)
	str("profilePicture", req.ProfilePicture, 2048, false)
	if p := req.ProfilePicture; p != nil && *p != "" {
		if u, err := url.Parse(*p); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			fields["profilePicture"] = "must be an http(s) URL"
		}
	}
	if len(fields) > 0 {
		return apperr.Validation(fields)
	}
	ctx := r.Context()
	id := info(ctx).Claims.Subject
	// FusionAuth first: it is the identity's source of truth.
	faFields := map[string]any{}
	if req.FirstName != nil {
		faFields["firstName"] = *req.FirstName
	}
	if req.LastName != nil {
		faFields["lastName"] = *req.LastName
	}
	if req.PhoneNumber != nil {
		faFields["phoneNumber"] = *req.PhoneNumber
	}
	if len(faFields) > 0 {
		if _, err := s.fa.UpdateUser(ctx, id, faFields); err != nil {
			return err
		}
	}
	err := s.store.UpdateUser(ctx, id, store.UserPatch{
		FirstName: req.FirstName, LastName: req.LastName, PhoneNumber: req.PhoneNumber,
		ProfilePicture: req.ProfilePicture, Metadata: req.Metadata,
	})
	if errors.Is(err, store.ErrNotFound) {
		return apperr.New(apperr.CodeNotFound, "user not found")
	}
	if err != nil {
		return s.dbErr(err)
	}
	s.cache.drop(ctx, id)
	u, err := s.user(ctx, id)
	if err != nil {
		return err
	}
	s.audit(ctx, u.TenantID, u.ID, "user.updated", nil)
	s.writeData(w, r, http.StatusOK, u)
	return nil
}

func (s *Server) deleteMe(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	c := info(ctx).Claims
	err := s.store.DeleteUser(ctx, c.Subject, func() error { return s.fa.DeleteUser(ctx, c.Subject) })
	if errors.Is(err, store.ErrNotFound) {
		return apperr.New(apperr.CodeNotFound, "user not found")
	}
	if err != nil {
		if apperr.Is(err, apperr.CodeUnavailable) {
			return err
		}
		return s.dbErr(err)
	}
	s.cache.drop(ctx, c.Subject)
	s.audit(ctx, c.TenantID, c.Subject, "user.deleted", nil)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
