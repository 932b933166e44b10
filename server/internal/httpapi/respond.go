package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"time"

	"github.com/heimdall-io/heimdall-operator/server/internal/apperr"
)

// handlerFunc is a handler that returns a domain error instead of writing it.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

var errEmptyBody = apperr.Validation(map[string]string{"body": "request body is required"})

func isEmptyBody(err error) bool { return err == errEmptyBody }

var notFoundErr = apperr.New(apperr.CodeNotFound, "resource not found")

type meta struct {
	RequestID string `json:"requestId"`
	Timestamp string `json:"timestamp"`
}

type envelope struct {
	Success bool       `json:"success"`
	Data    any        `json:"data,omitempty"`
	Error   *errorBody `json:"error,omitempty"`
	Meta    meta       `json:"meta"`
}

type errorBody struct {
	Code    string         `json:"code"`
	Message string         `json:"message"`
	Details map[string]any `json:"details,omitempty"`
}

func (s *Server) meta(r *http.Request) meta {
	return meta{RequestID: info(r.Context()).RequestID, Timestamp: s.now().UTC().Format(time.RFC3339)}
}

func writeRaw(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeData answers a success envelope.
func (s *Server) writeData(w http.ResponseWriter, r *http.Request, status int, data any) {
	writeRaw(w, status, envelope{Success: true, Data: data, Meta: s.meta(r)})
}

// writeError is the one place where errors become HTTP answers. Unknown
// errors are logged and answered as INTERNAL_ERROR without detail.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := apperr.From(err)
	status := apperr.HTTPStatus(e.Code)
	ri := info(r.Context())
	if status >= 500 {
		s.log.ErrorContext(r.Context(), "request failed", append(ri.attrs(), "code", e.Code, "error", errString(err))...)
	} else if e.Err != nil {
		s.log.DebugContext(r.Context(), "request rejected", append(ri.attrs(), "code", e.Code, "error", errString(err))...)
	}
	ri.ErrorCode = e.Code
	writeRaw(w, status, envelope{Error: &errorBody{Code: e.Code, Message: e.Message, Details: e.Details}, Meta: s.meta(r)})
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// decodeJSON reads one JSON value into dst and maps every failure to the
// contract's codes: 413, 415 or 400 with details.fields.
func decodeJSON(r *http.Request, dst any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return apperr.New(apperr.CodeUnsupportedMedia, "request body must be application/json")
		}
	}
	dec := json.NewDecoder(r.Body)
	err := dec.Decode(dst)
	if err == nil && dec.More() {
		err = errors.New("trailing data after JSON value")
	}
	if err == nil {
		return nil
	}
	var mbe *http.MaxBytesError
	var ute *json.UnmarshalTypeError
	switch {
	case errors.As(err, &mbe):
		return apperr.New(apperr.CodePayloadTooLarge, "request body too large")
	case errors.As(err, &ute):
		field := ute.Field
		if field == "" {
			field = "body"
		}
		return apperr.Validation(map[string]string{field: "must be " + jsonKind(ute.Type.Kind().String())})
	case errors.Is(err, io.EOF):
		return errEmptyBody
	}
	e := apperr.Validation(map[string]string{"body": "malformed JSON"})
	e.Message = "malformed JSON"
	e.Err = err
	return e
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "map", "struct":
		return "an object"
	case "slice", "array":
		return "an array"
	default:
		return "a number"
	}
}
