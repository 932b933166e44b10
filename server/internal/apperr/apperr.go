// Package apperr holds the typed domain errors of the Heimdall API and the
// single table that maps their codes to HTTP status codes.
package apperr

import (
	"errors"
	"net/http"
)

// Error codes of the API contract (docs/heimdall-api.md).
const (
	CodeValidation         = "VALIDATION_ERROR"
	CodeUnauthorized       = "UNAUTHORIZED"
	CodeInvalidCredentials = "INVALID_CREDENTIALS"
	CodeInvalidToken       = "INVALID_TOKEN"
	CodeForbidden          = "FORBIDDEN"
	CodeNotFound           = "NOT_FOUND"
	CodeConflict           = "CONFLICT"
	CodePayloadTooLarge    = "PAYLOAD_TOO_LARGE"
	CodeUnsupportedMedia   = "UNSUPPORTED_MEDIA_TYPE"
	CodeAccountLocked      = "ACCOUNT_LOCKED"
	CodeEmailNotVerified   = "EMAIL_NOT_VERIFIED"
	CodeRateLimited        = "RATE_LIMIT_EXCEEDED"
	CodeInternal           = "INTERNAL_ERROR"
	CodeUnavailable        = "SERVICE_UNAVAILABLE"
)

var statusByCode = map[string]int{
	CodeValidation:         http.StatusBadRequest,
	CodeUnauthorized:       http.StatusUnauthorized,
	CodeInvalidCredentials: http.StatusUnauthorized,
	CodeInvalidToken:       http.StatusUnauthorized,
	CodeForbidden:          http.StatusForbidden,
	CodeNotFound:           http.StatusNotFound,
	CodeConflict:           http.StatusConflict,
	CodePayloadTooLarge:    http.StatusRequestEntityTooLarge,
	CodeUnsupportedMedia:   http.StatusUnsupportedMediaType,
	CodeAccountLocked:      http.StatusLocked,
	CodeEmailNotVerified:   http.StatusForbidden,
	CodeRateLimited:        http.StatusTooManyRequests,
	CodeInternal:           http.StatusInternalServerError,
	CodeUnavailable:        http.StatusServiceUnavailable,
}

// Error is a domain error that is safe to show to API clients.
type Error struct {
	Code    string
	Message string
	Details map[string]any
	// Err is the underlying cause; it is logged, never sent to clients.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Code + ": " + e.Message + ": " + e.Err.Error()
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// New returns a domain error with the given code and message.
func New(code, msg string) *Error { return &Error{Code: code, Message: msg} }

// Wrap returns a domain error that keeps cause for the logs.
func Wrap(code, msg string, cause error) *Error { return &Error{Code: code, Message: msg, Err: cause} }

// Validation returns a VALIDATION_ERROR whose details.fields maps field to reason.
func Validation(fields map[string]string) *Error {
	return &Error{Code: CodeValidation, Message: "request validation failed", Details: map[string]any{"fields": fields}}
}

// HTTPStatus is the one place where codes become HTTP status codes.
func HTTPStatus(code string) int {
	if s, ok := statusByCode[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// From returns the domain error in err's chain, or an INTERNAL_ERROR wrapping err.
func From(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return Wrap(CodeInternal, "internal server error", err)
}

// Is reports whether err carries the given domain code.
func Is(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}
