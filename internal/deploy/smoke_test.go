package deploy

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/slipway-cd/slipway/internal/env/dockerhost"
)

// The smoke check wants a 2xx of the generation itself: a redirect (to a
// login page, another host) is not followed and fails it.
func TestSmokeCheckWantsA2xxNotARedirect(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	t.Cleanup(other.Close)
	green := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/moved" {
			http.Redirect(w, r, other.URL+"/login", http.StatusFound)
		}
	}))
	t.Cleanup(green.Close)
	port, err := strconv.Atoi(green.URL[strings.LastIndex(green.URL, ":")+1:])
	if err != nil {
		t.Fatal(err)
	}
	g := dockerhost.Generation{Number: 2, Services: []dockerhost.ServiceStatus{{Name: "web", Port: port}}}
	if err := smoke(context.Background(), g, "/ok"); err != nil {
		t.Fatalf("smoke of a 200: %v", err)
	}
	if err := smoke(context.Background(), g, "/moved"); err == nil || !strings.Contains(err.Error(), "302") {
		t.Fatalf("smoke of a redirect: %v, want it failed with the 302", err)
	}
}
