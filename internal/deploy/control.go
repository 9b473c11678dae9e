package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
)

// The control endpoint: slipway deploy serve owns the embedded proxy, so
// the rollouts the CLI asks for run in its process. It listens on loopback
// only and has no authentication: whoever may run commands on the host may
// deploy.

// ControlRequest asks for a rollout (Target), a promotion (From and To)
// or a rollback (Target).
type ControlRequest struct {
	Target string `json:"target,omitempty"`
	// Strategy overrides the target's strategy kind for this rollout.
	Strategy Kind   `json:"strategy,omitempty"`
	From     string `json:"from,omitempty"`
	To       string `json:"to,omitempty"`
}

// ControlResponse is the rollout recorded, with the error that ended it.
type ControlResponse struct {
	Rollout *Rollout `json:"rollout,omitempty"`
	Error   string   `json:"error,omitempty"`
}

// CheckLoopback refuses a control address that is not on loopback.
func CheckLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("proxy.control %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("proxy.control %q: want a loopback address (the endpoint has no authentication)", addr)
	}
	return nil
}

// ControlHandler serves POST /rollouts, /promotions and /rollbacks for the
// targets of cfg.
func ControlHandler(r *Runner, cfg *Config) http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, fn func(context.Context, ControlRequest) (Rollout, error)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, req *http.Request) {
			// A web page the operator visits may post to loopback too:
			// JSON needs a CORS preflight that is never granted, and a
			// rebound DNS name shows in Host.
			if req.Header.Get("Content-Type") != "application/json" {
				writeControl(w, http.StatusUnsupportedMediaType, ControlResponse{Error: "want Content-Type: application/json"})
				return
			}
			if host, _, err := net.SplitHostPort(req.Host); err != nil || CheckLoopback(req.Host) != nil || host == "" {
				writeControl(w, http.StatusForbidden, ControlResponse{Error: "want a loopback Host"})
				return
			}
			var cr ControlRequest
			if err := json.NewDecoder(req.Body).Decode(&cr); err != nil {
				writeControl(w, http.StatusBadRequest, ControlResponse{Error: "bad request: " + err.Error()})
				return
			}
			ro, err := fn(req.Context(), cr)
			resp := ControlResponse{}
			if ro.Env != "" {
				resp.Rollout = &ro
			}
			if err != nil {
				resp.Error = err.Error()
			}
			writeControl(w, http.StatusOK, resp)
		})
	}
	target := func(ctx context.Context, name string) (Target, error) {
		tc, err := cfg.Target(name)
		if err != nil {
			return Target{}, err
		}
		return tc.Load(ctx)
	}
	handle("POST /rollouts", func(ctx context.Context, cr ControlRequest) (Rollout, error) {
		t, err := target(ctx, cr.Target)
		if err != nil {
			return Rollout{}, err
		}
		if cr.Strategy != "" {
			t.Strategy.Kind = cr.Strategy
		}
		return r.Run(ctx, t)
	})
	handle("POST /promotions", func(ctx context.Context, cr ControlRequest) (Rollout, error) {
		from, err := target(ctx, cr.From)
		if err != nil {
			return Rollout{}, err
		}
		to, err := target(ctx, cr.To)
		if err != nil {
			return Rollout{}, err
		}
		return r.Promote(ctx, from, to)
	})
	handle("POST /rollbacks", func(ctx context.Context, cr ControlRequest) (Rollout, error) {
		t, err := target(ctx, cr.Target)
		if err != nil {
			return Rollout{}, err
		}
		return r.Rollback(ctx, t)
	})
	return mux
}

func writeControl(w http.ResponseWriter, code int, resp ControlResponse) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(resp)
}

// Control asks the control endpoint at addr (host:port) for what req
// says; path is /rollouts, /promotions or /rollbacks. It waits as long as
// the rollout runs.
func Control(ctx context.Context, addr, path string, req ControlRequest) (*Rollout, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(hreq)
	if err != nil {
		return nil, fmt.Errorf("no slipway deploy serve answers at %s (proxy.control): %w", addr, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("control %s: %w", addr, err)
	}
	var cr ControlResponse
	if err := json.Unmarshal(b, &cr); err != nil {
		return nil, fmt.Errorf("control %s: %s: %w", addr, resp.Status, err)
	}
	if cr.Error != "" {
		return cr.Rollout, errors.New(cr.Error)
	}
	return cr.Rollout, nil
}
