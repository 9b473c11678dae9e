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
	"os"
	"syscall"
	"time"
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
	// Config is the absolute path of the config file the command read:
	// serve refuses a request made from another file than its own.
	Config string `json:"config,omitempty"`
	// Gate is the action of a POST /gates on Target's canary.
	Gate GateAction `json:"gate,omitempty"`
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

// ControlHandler serves POST /rollouts, /promotions, /rollbacks,
// /removals and /gates for the targets of cfg's file, read again at each request.
func ControlHandler(r *Runner, cfg *Config) http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, fn func(context.Context, *Config, ControlRequest) (Rollout, error)) {
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
			now, err := sameConfig(cfg, cr.Config)
			if err != nil {
				writeControl(w, http.StatusOK, ControlResponse{Error: err.Error()})
				return
			}
			ro, err := fn(req.Context(), now, cr)
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
	target := func(ctx context.Context, cfg *Config, name string) (Target, error) {
		tc, err := cfg.Target(name)
		if err != nil {
			return Target{}, err
		}
		return tc.Load(ctx)
	}
	handle("POST /rollouts", func(ctx context.Context, cfg *Config, cr ControlRequest) (Rollout, error) {
		t, err := target(ctx, cfg, cr.Target)
		if err != nil {
			return Rollout{}, err
		}
		if cr.Strategy != "" {
			t.Strategy.Kind = cr.Strategy
		}
		return r.Run(ctx, t)
	})
	handle("POST /promotions", func(ctx context.Context, cfg *Config, cr ControlRequest) (Rollout, error) {
		from, err := target(ctx, cfg, cr.From)
		if err != nil {
			return Rollout{}, err
		}
		to, err := target(ctx, cfg, cr.To)
		if err != nil {
			return Rollout{}, err
		}
		return r.Promote(ctx, from, to)
	})
	handle("POST /rollbacks", func(ctx context.Context, cfg *Config, cr ControlRequest) (Rollout, error) {
		t, err := target(ctx, cfg, cr.Target)
		if err != nil {
			return Rollout{}, err
		}
		return r.Rollback(ctx, t)
	})
	handle("POST /removals", func(ctx context.Context, cfg *Config, cr ControlRequest) (Rollout, error) {
		return Rollout{}, r.Remove(ctx, cfg, cr.Target)
	})
	handle("POST /gates", func(ctx context.Context, cfg *Config, cr ControlRequest) (Rollout, error) {
		tc, err := cfg.Target(cr.Target)
		if err != nil {
			return Rollout{}, err
		}
		return Rollout{}, r.Gate(Target{Name: tc.Name}.Env(), cr.Gate)
	})
	return mux
}

// sameConfig reads serve's config file again; a request made from
// another file (file, when given) is refused: serve would roll out what
// its own file says, not what the command's user just edited.
func sameConfig(cfg *Config, file string) (*Config, error) {
	if file != "" {
		mine, err1 := os.Stat(cfg.File)
		theirs, err2 := os.Stat(file)
		if err1 != nil || err2 != nil || !os.SameFile(mine, theirs) {
			return nil, fmt.Errorf("slipway deploy serve reads %s, not %s: give it that --config, or start a serve on this file (with its own proxy.control)", cfg.Path(), file)
		}
	}
	return cfg.Reload()
}

func writeControl(w http.ResponseWriter, code int, resp ControlResponse) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(resp)
}

// ControlWait is how long Control waits for a serve still starting: its
// control endpoint refuses connections until it listens.
const ControlWait = 30 * time.Second

// Control asks the control endpoint at addr (host:port) for what req
// says; path is /rollouts, /promotions, /rollbacks, /removals or /gates. It waits
// as long as the rollout runs.
func Control(ctx context.Context, addr, path string, req ControlRequest) (*Rollout, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	resp, err := post(ctx, "http://"+addr+path, body)
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

// post sends body to url, again while the connection is refused, for up to
// ControlWait: "slipway deploy serve &" followed at once by a run must not
// fail. Nothing was sent on a refused connection, so sending again is safe.
func post(ctx context.Context, url string, body []byte) (*http.Response, error) {
	deadline := time.Now().Add(ControlWait)
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err == nil || !errors.Is(err, syscall.ECONNREFUSED) || time.Now().Add(wait).After(deadline) {
			return resp, err
		}
		if err := sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}
