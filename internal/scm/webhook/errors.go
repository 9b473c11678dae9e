package webhook

import (
	"errors"
	"net/http"
)

// Errors returned by Parse, wrapped with details. Match them with errors.Is;
// StatusCode maps them to the HTTP answer. None of them carries the payload
// or the secret.
var (
	// ErrUnauthorized: the signature or token is missing or wrong, or no
	// secret is configured. Answer 401.
	ErrUnauthorized = errors.New("webhook not authenticated")
	// ErrBadPayload: the delivery is authentic but malformed. Answer 400.
	ErrBadPayload = errors.New("bad webhook payload")
	// ErrTooLarge: the body exceeds the size limit. Answer 413.
	ErrTooLarge = errors.New("webhook body too large")
	// ErrIgnored: an authentic delivery that triggers nothing (GitHub's
	// ping, events and actions Slipway does not act on). Answer 202.
	ErrIgnored = errors.New("webhook event ignored")
)

// StatusCode is the HTTP status a server should answer for an error from
// Parse: 200 for nil, 202 for ignored events, 401, 413, 400.
func StatusCode(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrIgnored):
		return http.StatusAccepted
	case errors.Is(err, ErrUnauthorized):
		return http.StatusUnauthorized
	case errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusBadRequest
}
