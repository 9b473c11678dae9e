package notify

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
)

// Headers of generic webhooks.
const (
	HeaderEvent     = "X-Slipway-Event"
	HeaderDelivery  = "X-Slipway-Delivery"
	HeaderSignature = "X-Slipway-Signature"
)

// Webhook posts events as JSON to any URL, signed with HMAC-SHA256 in
// X-Slipway-Signature: sha256=<hex>, as GitHub signs its webhooks.
type Webhook struct {
	URL    string
	Secret []byte
	Client *http.Client
}

// WebhookPayload is the body of a generic webhook: the event's name and
// delivery id, then the fields of Event.
type WebhookPayload struct {
	EventName string `json:"event"`
	// Delivery is the same on every attempt of one event, so receivers
	// can drop duplicates.
	Delivery string `json:"delivery"`
	Event
}

// Notify posts the event once.
func (w Webhook) Notify(ctx context.Context, e Event) error {
	delivery := deliveryID(ctx)
	body, err := json.Marshal(WebhookPayload{EventName: e.Name(), Delivery: delivery, Event: e})
	if err != nil {
		return fmt.Errorf("%w: encoding webhook body: %w", ErrPermanent, err)
	}
	h := http.Header{}
	h.Set(HeaderEvent, e.Name())
	h.Set(HeaderDelivery, delivery)
	h.Set(HeaderSignature, "sha256="+hex.EncodeToString(Sign(w.Secret, body)))
	return request{client: w.Client, url: w.URL, headers: h, body: body, secrets: []string{string(w.Secret)}}.post(ctx)
}

// Sign is the HMAC-SHA256 of body with secret. Receivers compute it over the
// raw body and compare it in constant time with X-Slipway-Signature.
func Sign(secret, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return m.Sum(nil)
}

type deliveryKey struct{}

// withDelivery gives an event's attempts one delivery id.
func withDelivery(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, deliveryKey{}, id)
}

func deliveryID(ctx context.Context) string {
	if id, ok := ctx.Value(deliveryKey{}).(string); ok {
		return id
	}
	return newDeliveryID()
}

func newDeliveryID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
