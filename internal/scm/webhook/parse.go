package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// DefaultMaxBodyBytes is the body size limit when the Parser sets none.
// GitHub allows payloads up to 25 MB, but the events Slipway acts on
// (pushes, merge requests) are a few kilobytes: reading more from an
// unauthenticated sender before the signature check only costs memory.
const DefaultMaxBodyBytes = 1 << 20

// Header names.
const (
	headerGitHubEvent     = "X-GitHub-Event"
	headerGitHubSignature = "X-Hub-Signature-256"
	headerGitHubDelivery  = "X-GitHub-Delivery"
	headerGitLabEvent     = "X-Gitlab-Event"
	headerGitLabToken     = "X-Gitlab-Token"
	headerGitLabUUID      = "X-Gitlab-Event-UUID"
	headerGiteaEvent      = "X-Gitea-Event"
	headerGiteaSignature  = "X-Gitea-Signature"
	headerGiteaDelivery   = "X-Gitea-Delivery"
	// HeaderSignature signs generic webhooks: sha256=<hex HMAC-SHA256>.
	HeaderSignature = "X-Slipway-Signature"
	// HeaderDelivery optionally carries the id of a generic delivery.
	HeaderDelivery = "X-Slipway-Delivery"
)

// Parser reads webhook deliveries. The zero value is ready to use.
type Parser struct {
	// MaxBodyBytes limits the body; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// MaxBodyBytesBy overrides MaxBodyBytes for some providers.
	MaxBodyBytesBy map[Provider]int64
}

// Limit is the body size limit for a provider's deliveries.
func (p Parser) Limit(provider Provider) int64 {
	if n := p.MaxBodyBytesBy[provider]; n > 0 {
		return n
	}
	if p.MaxBodyBytes > 0 {
		return p.MaxBodyBytes
	}
	return DefaultMaxBodyBytes
}

// Parse reads, verifies and normalizes one webhook delivery with a zero
// Parser. See Parser.Parse.
func Parse(r *http.Request, secret []byte) (Event, error) {
	return Parser{}.Parse(r, secret)
}

// Parse detects the provider from the request headers, reads the body up to
// the size limit, checks the signature against secret (in constant time) and
// only then decodes the payload. An empty secret refuses every delivery.
func (p Parser) Parse(r *http.Request, secret []byte) (Event, error) {
	provider, err := Detect(r.Header)
	if err != nil {
		return Event{}, err
	}
	return p.ParseFrom(provider, r, secret)
}

// ParseFrom is Parse for a provider known in advance (from the route the
// delivery came to): a delivery missing its signature is then refused as
// unauthenticated rather than as unrecognizable.
func (p Parser) ParseFrom(provider Provider, r *http.Request, secret []byte) (Event, error) {
	limit := p.Limit(provider)
	if r.ContentLength > limit {
		return Event{}, fmt.Errorf("%s: %w: %d bytes, over the limit of %d bytes for %s webhooks", provider, ErrTooLarge, r.ContentLength, limit, provider)
	}
	// One byte more than the limit tells a body over it, before anything
	// of it is trusted.
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return Event{}, fmt.Errorf("%s: %w: reading body: %w", provider, ErrBadPayload, err)
	}
	if int64(len(body)) > limit {
		return Event{}, fmt.Errorf("%s: %w: over the limit of %d bytes for %s webhooks", provider, ErrTooLarge, limit, provider)
	}
	return ParseBody(provider, r.Header, body, secret)
}

// Detect names the provider of a delivery from its headers. Gitea also sends
// GitHub's headers, so its own are looked at first.
func Detect(h http.Header) (Provider, error) {
	switch {
	case h.Get(headerGiteaEvent) != "":
		return Gitea, nil
	case h.Get(headerGitLabEvent) != "":
		return GitLab, nil
	case h.Get(headerGitHubEvent) != "":
		return GitHub, nil
	case h.Get(HeaderSignature) != "":
		return Generic, nil
	}
	return "", fmt.Errorf("%w: no event header (%s, %s, %s or %s)", ErrBadPayload,
		headerGitHubEvent, headerGitLabEvent, headerGiteaEvent, HeaderSignature)
}

// ParseBody verifies and normalizes a delivery whose body was already read.
func ParseBody(provider Provider, h http.Header, body, secret []byte) (Event, error) {
	if err := Verify(provider, h, body, secret); err != nil {
		return Event{}, err
	}
	var (
		e   Event
		err error
	)
	switch provider {
	case GitHub:
		e, err = decodeGitHub(h.Get(headerGitHubEvent), body)
		e.DeliveryID = h.Get(headerGitHubDelivery)
	case GitLab:
		e, err = decodeGitLab(h.Get(headerGitLabEvent), body)
		e.DeliveryID = h.Get(headerGitLabUUID)
	case Gitea:
		e, err = decodeGitea(h.Get(headerGiteaEvent), body)
		e.DeliveryID = h.Get(headerGiteaDelivery)
	case Generic:
		e, err = decodeGeneric(body)
		e.DeliveryID = h.Get(HeaderDelivery)
	default:
		return Event{}, fmt.Errorf("%w: unknown provider %q", ErrBadPayload, provider)
	}
	if err != nil {
		return Event{}, fmt.Errorf("%s: %w", provider, err)
	}
	e.Provider = provider
	return e, nil
}

// Verify checks a delivery's signature or token against secret.
func Verify(provider Provider, h http.Header, body, secret []byte) error {
	if len(secret) == 0 {
		return fmt.Errorf("%s: %w: no webhook secret configured", provider, ErrUnauthorized)
	}
	switch provider {
	case GitHub:
		return verifyHMAC(provider, headerGitHubSignature, h.Get(headerGitHubSignature), "sha256=", body, secret)
	case Gitea:
		return verifyHMAC(provider, headerGiteaSignature, h.Get(headerGiteaSignature), "", body, secret)
	case Generic:
		return verifyHMAC(provider, HeaderSignature, h.Get(HeaderSignature), "sha256=", body, secret)
	case GitLab:
		token := h.Get(headerGitLabToken)
		if token == "" {
			return fmt.Errorf("%s: %w: missing %s", provider, ErrUnauthorized, headerGitLabToken)
		}
		// Hashing both sides first makes the comparison constant-time in
		// the length of the secret as well.
		got, want := sha256.Sum256([]byte(token)), sha256.Sum256(secret)
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			return fmt.Errorf("%s: %w: wrong %s", provider, ErrUnauthorized, headerGitLabToken)
		}
		return nil
	}
	return fmt.Errorf("%w: unknown provider %q", ErrUnauthorized, provider)
}

func verifyHMAC(provider Provider, header, value, prefix string, body, secret []byte) error {
	if value == "" {
		return fmt.Errorf("%s: %w: missing %s", provider, ErrUnauthorized, header)
	}
	hexSig, ok := strings.CutPrefix(value, prefix)
	if !ok {
		return fmt.Errorf("%s: %w: %s does not start with %q", provider, ErrUnauthorized, header, prefix)
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return fmt.Errorf("%s: %w: %s is not hex", provider, ErrUnauthorized, header)
	}
	if !hmac.Equal(got, Sign(secret, body)) {
		return fmt.Errorf("%s: %w: %s does not match the body", provider, ErrUnauthorized, header)
	}
	return nil
}

// Sign is the HMAC-SHA256 of body with secret, as GitHub, Gitea and generic
// webhooks sign their deliveries.
func Sign(secret, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return m.Sum(nil)
}

// decodeJSON decodes body into v. Its errors name the offset or the field
// but never quote the payload.
func decodeJSON(body []byte, v any, strict bool) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if strict {
		dec.DisallowUnknownFields()
	}
	err := dec.Decode(v)
	if err == nil {
		if dec.More() {
			return fmt.Errorf("%w: data after the JSON object at offset %d", ErrBadPayload, dec.InputOffset())
		}
		return nil
	}
	var (
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
		ts     *time.ParseError
	)
	switch {
	case errors.As(err, &syntax):
		return fmt.Errorf("%w: malformed JSON at offset %d", ErrBadPayload, syntax.Offset)
	case errors.As(err, &typ):
		return fmt.Errorf("%w: field %q: want %s, got JSON %s", ErrBadPayload, typ.Field, typ.Type, typ.Value)
	case errors.As(err, &ts):
		return fmt.Errorf("%w: a timestamp is not in RFC 3339 format", ErrBadPayload)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: empty or truncated JSON", ErrBadPayload)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.TrimPrefix(err.Error(), "json: unknown field ")
		if len(name) > 66 {
			name = name[:64] + `…"`
		}
		return fmt.Errorf("%w: unknown field %s", ErrBadPayload, name)
	}
	return fmt.Errorf("%w: invalid JSON", ErrBadPayload)
}

// missing reports required fields that are empty, by their JSON path.
func missing(fields ...string) error {
	var names []string
	for i := 0; i+1 < len(fields); i += 2 {
		if fields[i+1] == "" {
			names = append(names, fields[i])
		}
	}
	if len(names) == 0 {
		return nil
	}
	return fmt.Errorf("%w: missing %s", ErrBadPayload, strings.Join(names, ", "))
}

// refParts splits a full ref into branch or tag.
func refParts(ref string) (branch, tag string) {
	if t, ok := strings.CutPrefix(ref, "refs/tags/"); ok {
		return "", t
	}
	if b, ok := strings.CutPrefix(ref, "refs/heads/"); ok {
		return b, ""
	}
	return "", ""
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
