// Package server is `slipway serve`: one process with the HTTP API, the
// web UI, webhooks, Prometheus metrics and the embedded registry, over the
// store and the pipeline service.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/slipway-cd/slipway/internal/ci"
	"github.com/slipway-cd/slipway/internal/configfile"
	"github.com/slipway-cd/slipway/internal/engine"
	"github.com/slipway-cd/slipway/internal/env"
	"github.com/slipway-cd/slipway/internal/env/dockerhost"
	"github.com/slipway-cd/slipway/internal/env/usage"
	"github.com/slipway-cd/slipway/internal/env/usage/kubeusage"
	"github.com/slipway-cd/slipway/internal/executor/byname"
	"github.com/slipway-cd/slipway/internal/executor/kubernetes"
	"github.com/slipway-cd/slipway/internal/httpdrain"
	"github.com/slipway-cd/slipway/internal/joblog"
	"github.com/slipway-cd/slipway/internal/kubehost"
	"github.com/slipway-cd/slipway/internal/notify"
	"github.com/slipway-cd/slipway/internal/pipelines"
	"github.com/slipway-cd/slipway/internal/proxy"
	"github.com/slipway-cd/slipway/internal/proxy/embedded"
	"github.com/slipway-cd/slipway/internal/registry"
	"github.com/slipway-cd/slipway/internal/registry/cleanup"
	"github.com/slipway-cd/slipway/internal/scm/mirror"
	"github.com/slipway-cd/slipway/internal/store"
)

// Config is the server's configuration: flags and one YAML file.
type Config struct {
	// Listen is the HTTP address (default 127.0.0.1:8080).
	Listen string `yaml:"listen"`
	// DataDir holds the database, mirrors, logs and working copies.
	DataDir string `yaml:"data_dir"`
	// Database is sqlite:///path or postgres://... (default: SQLite in DataDir).
	Database string `yaml:"database"`
	// BaseURL is how people reach the server, for links (default http://Listen).
	BaseURL string `yaml:"base_url"`
	// AllowedHosts are more host names requests may name in Host, besides
	// loopback names and addresses, the listen address and BaseURL's host.
	AllowedHosts []string `yaml:"allowed_hosts"`
	// Executor runs jobs: shell, docker, kubernetes or auto.
	Executor    string `yaml:"executor"`
	Concurrency int    `yaml:"concurrency"`
	// Kubernetes configures the kubernetes executor; with it, auto runs
	// the jobs that have an image as pods (docs/executors.md).
	Kubernetes *kubernetes.Options `yaml:"kubernetes"`
	// OutputLimit is how many bytes of output a job may log (default
	// 4 MiB); the rest is dropped after a line that says so.
	OutputLimit int64 `yaml:"output_limit"`
	// APITokenEnv names the environment variable that holds the API token;
	// when it is set, API calls that change anything need it as a Bearer token.
	APITokenEnv string `yaml:"api_token_env"`
	// MakeAPIToken: without APITokenEnv, use the token kept in the
	// database, made at the first start (MadeAPIToken says when). `slipway
	// serve` sets it: a server is never open to whoever reaches it.
	MakeAPIToken bool `yaml:"-"`
	// UISessionIdle ends a web UI session not used for this long (default
	// 7 days); a session ends 30 days after sign-in in any case.
	UISessionIdle time.Duration `yaml:"ui_session_idle"`
	// PollInterval is how often projects with polling on are fetched.
	PollInterval time.Duration `yaml:"poll_interval"`
	// ScheduleTick is how often due schedules are looked for.
	ScheduleTick time.Duration `yaml:"schedule_tick"`
	// ExpiryTick is how often artifacts whose expire_in has passed and
	// ended UI sessions are removed (default 10m).
	ExpiryTick time.Duration `yaml:"expiry_tick"`
	// ServerName names this server among those sharing a database; it must
	// stay the same across restarts and differ between servers: a server
	// that starts fails the work its earlier process left running, found by
	// this name. Default: hostname:data_dir.
	ServerName string `yaml:"server_name"`
	// HeartbeatInterval is how often the server tells the others it is
	// alive, and looks for servers that are not (default 10s).
	HeartbeatInterval time.Duration `yaml:"heartbeat_interval"`
	// HeartbeatGrace is how long a server may go without a heartbeat before
	// the others fail its running jobs (default 1m or six intervals,
	// whichever is longer; at least two intervals).
	HeartbeatGrace time.Duration `yaml:"heartbeat_grace"`

	Notify       notify.Config      `yaml:"notify"`
	Registry     RegistryConfig     `yaml:"registry"`
	Environments EnvironmentsConfig `yaml:"environments"`
	Proxy        ProxyConfig        `yaml:"proxy"`
	Gitops       GitopsConfig       `yaml:"gitops"`
	Webhooks     WebhooksConfig     `yaml:"webhooks"`
}

// RegistryConfig is the embedded OCI registry, served at /v2/ on the
// server's listener.
type RegistryConfig struct {
	Disabled bool `yaml:"disabled"`
	// Htpasswd and Tokens authenticate it (docs/registry.md), besides the
	// API token and jobs' tokens; with neither, anyone may pull.
	Htpasswd string `yaml:"htpasswd"`
	Tokens   string `yaml:"tokens"`
	// CleanupPolicy is a cleanup policy file (docs/registry.md); each rule
	// runs on its cadence, looked at every CleanupEvery (default 1h).
	CleanupPolicy string        `yaml:"cleanup_policy"`
	CleanupEvery  time.Duration `yaml:"cleanup_every"`
}

// LoadConfig reads a YAML configuration file. Every problem, an unknown
// key included, is an error at its file:line:col.
func LoadConfig(path string) (Config, error) {
	var c Config
	if err := configfile.Load(path, &c); err != nil {
		return c, err
	}
	// A notify secret's variable that is not set is a mistake of this
	// file: say where (New, which knows no file, says only line:col).
	if _, err := c.Notify.Targets(os.Getenv, nil); err != nil {
		return c, fmt.Errorf("%s:%w", path, err)
	}
	// The environments' target, checked here for the same reason.
	if err := c.Environments.checkTarget(); err != nil {
		line, col := keyPosition(path, err.Error())
		return c, &ci.Error{Pos: ci.Pos{File: path, Line: line, Col: col}, Msg: err.Error()}
	}
	// The proxy's templates and domain, checked here rather than when the
	// proxy starts, so that their error has the file's position.
	if _, err := c.Proxy.hostnames(); err != nil {
		errs := []error{err}
		if joined, ok := err.(interface{ Unwrap() []error }); ok {
			errs = joined.Unwrap()
		}
		var list ci.ErrorList
		for _, e := range errs {
			line, col := keyPosition(path, e.Error())
			list = append(list, &ci.Error{Pos: ci.Pos{File: path, Line: line, Col: col}, Msg: e.Error()})
		}
		return c, list
	}
	return c, nil
}

// keyPosition is the line and column of the value of the dotted key an
// error message starts with (proxy.hostnames.main ...), or 0, 0 when the
// file does not have it (a default is at fault).
func keyPosition(path, msg string) (line, col int) {
	data, err := os.ReadFile(path)
	var doc yaml.Node
	if err != nil || yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 {
		return 0, 0
	}
	key, _, _ := strings.Cut(msg, " ")
	n := doc.Content[0]
	for _, k := range strings.Split(strings.TrimSuffix(key, ":"), ".") {
		var next *yaml.Node
		for i := 0; n.Kind == yaml.MappingNode && i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				next = n.Content[i+1]
			}
		}
		if next == nil {
			return 0, 0
		}
		n = next
	}
	return n.Line, n.Column
}

func (c *Config) defaults() error {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8080"
	}
	if c.DataDir == "" {
		c.DataDir = "slipway-data"
	}
	abs, err := filepath.Abs(c.DataDir)
	if err != nil {
		return err
	}
	c.DataDir = abs
	if c.Database == "" {
		c.Database = "sqlite://" + filepath.Join(c.DataDir, "slipway.db")
	}
	if c.Executor == "" {
		c.Executor = "shell"
	}
	valid := false
	for _, n := range byname.Names {
		valid = valid || n == c.Executor
	}
	if !valid {
		return fmt.Errorf("executor %q: one of shell, docker, kubernetes, auto", c.Executor)
	}
	if c.Executor == "kubernetes" && c.Kubernetes == nil {
		c.Kubernetes = &kubernetes.Options{}
	}
	if c.Kubernetes != nil && c.Kubernetes.HelperImage == "" {
		return errors.New("kubernetes.helper_image: not set (make one with `slipway kubernetes helper-image`)")
	}
	if c.OutputLimit == 0 {
		c.OutputLimit = engine.DefaultOutputLimit
	}
	if c.OutputLimit < 0 {
		return fmt.Errorf("output_limit %d: want a positive number of bytes", c.OutputLimit)
	}
	if c.UISessionIdle == 0 {
		c.UISessionIdle = defaultUISessionIdle
	}
	if c.UISessionIdle < 0 {
		return fmt.Errorf("ui_session_idle %s: want a positive duration", c.UISessionIdle)
	}
	if c.PollInterval == 0 {
		c.PollInterval = time.Minute
	}
	if c.ScheduleTick == 0 {
		c.ScheduleTick = 5 * time.Second
	}
	if c.Environments.AutoStopTick == 0 {
		c.Environments.AutoStopTick = 30 * time.Second
	}
	if c.ExpiryTick == 0 {
		c.ExpiryTick = 10 * time.Minute
	}
	if c.ServerName == "" {
		host, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("server_name: no hostname to derive it from (%w); set it", err)
		}
		c.ServerName = host + ":" + c.DataDir
	}
	if c.Kubernetes != nil && c.Kubernetes.Installation == "" {
		c.Kubernetes.Installation = c.ServerName
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = 10 * time.Second
	}
	if c.HeartbeatGrace == 0 {
		c.HeartbeatGrace = max(time.Minute, 6*c.HeartbeatInterval)
	}
	if c.HeartbeatInterval < 0 || c.HeartbeatGrace < 2*c.HeartbeatInterval {
		// A grace of one interval fails the jobs of a server whose heartbeat
		// is merely late.
		return fmt.Errorf("heartbeat_grace %s: want at least two heartbeat_interval (%s)", c.HeartbeatGrace, c.HeartbeatInterval)
	}
	if c.Registry.CleanupEvery == 0 {
		c.Registry.CleanupEvery = time.Hour // as GitLab's cleanup worker
	}
	if c.Registry.CleanupEvery < 0 {
		return fmt.Errorf("registry.cleanup_every %s: want a positive duration", c.Registry.CleanupEvery)
	}
	return c.Webhooks.defaults()
}

// Server is a running Slipway server.
type Server struct {
	cfg      Config
	Store    *store.Store
	Pipes    *pipelines.Service
	Logs     *joblog.Store
	log      *slog.Logger
	apiToken string
	// MadeAPIToken is the API token this start made (MakeAPIToken), to be
	// shown once; empty when it was made before or configured.
	MadeAPIToken string
	notifier     *notify.Dispatcher
	metrics      *metrics
	registry     *prometheus.Registry
	// Images is the embedded OCI registry (nil when disabled).
	Images  *registry.Registry
	cleanup *cleanup.Policy
	// Envs runs review environments (nil unless enabled).
	Envs  *env.Manager
	proxy *embedded.Router
	// deployer runs environments and GitOps apps on the Docker host (nil
	// without either).
	deployer *dockerhost.Deployer
	// router is the proxy of the deployer and of kubeHost.
	router proxy.Router
	// kubeHost runs the environments on a cluster (environments.target:
	// kubernetes), nil otherwise.
	kubeHost *kubehost.Host
	// kubeUsage reads the pods of the environments on that cluster.
	kubeUsage *kubeusage.Reader
	// gitops reconciles and updates images (nil without gitops:).
	gitops *gitopsLoops
	// usage samples the resource use of environments and GitOps apps
	// (nil without either).
	usage *usage.Sampler
	// kubeReaders read the pods of GitOps deployments onto Kubernetes.
	kubeReaders kubeReaders

	http     *http.Server
	drain    *httpdrain.Drain
	listener net.Listener
	unlock   func() // releases the data folder's lock
	signIns  signInLimit
	stop     context.CancelFunc
	loops    sync.WaitGroup
	polled   sync.Map // project ID -> map[branch]sha seen by the poller
	// deliveries wakes the webhook delivery workers.
	deliveries chan struct{}
}

// New opens the store, recovers from an earlier crash and prepares the
// server; Start serves it.
func New(ctx context.Context, cfg Config, logger *slog.Logger) (_ *Server, err error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.Default()
	}
	unlock, err := lockFolders(cfg)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			unlock()
		}
	}()
	st, err := store.Open(ctx, cfg.Database)
	if err != nil {
		return nil, err
	}
	self, err := st.RegisterServer(ctx, cfg.ServerName, machine(), os.Getpid())
	if err != nil {
		st.Close()
		return nil, err
	}
	if err := checkNameFree(ctx, st, self, cfg.HeartbeatInterval, cfg.HeartbeatGrace); err != nil {
		_ = st.UnregisterServer(context.WithoutCancel(ctx), self)
		st.Close()
		return nil, err
	}
	s := &Server{cfg: cfg, Store: st, log: logger, registry: prometheus.NewRegistry(), unlock: unlock,
		deliveries: make(chan struct{}, cfg.Webhooks.Workers)}
	if err := s.readAPIToken(ctx); err != nil {
		st.Close()
		return nil, err
	}
	targets, err := cfg.Notify.Targets(os.Getenv, http.DefaultClient)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("notify: %w", err)
	}
	s.notifier = notify.NewDispatcher(targets, notify.Options{Logger: logger})
	s.metrics = newMetrics(s.registry)
	if !cfg.Registry.Disabled {
		if err := s.openRegistry(ctx); err != nil {
			st.Close()
			return nil, err
		}
	}
	s.Logs = &joblog.Store{Dir: filepath.Join(cfg.DataDir, "logs")}
	s.Pipes = &pipelines.Service{
		Store: st, Mirrors: &mirror.Mirrors{Dir: filepath.Join(cfg.DataDir, "repos")}, Logs: s.Logs,
		WorkDir: filepath.Join(cfg.DataDir, "work"), Executor: cfg.Executor, Kubernetes: cfg.Kubernetes, Concurrency: cfg.Concurrency,
		OutputLimit: cfg.OutputLimit, BaseURL: cfg.BaseURL, Logger: logger, Updates: &pipelines.Broker{}, Server: self,
		Notify: func(e notify.Event) {
			s.metrics.observe(e)
			s.notifier.Notify(e)
		},
	}
	if cfg.Environments.Enabled {
		if err := s.openEnvironments(ctx); err != nil {
			st.Close()
			return nil, err
		}
	}
	if cfg.Gitops.Config != "" || cfg.Gitops.State != "" {
		if err := s.openGitops(ctx); err != nil {
			s.closeProxy()
			st.Close()
			return nil, err
		}
	}
	if warning := s.proxyUnused(); warning != "" {
		s.log.Warn(warning)
	}
	return s, nil
}

// minAPITokenLen is the shortest API token accepted: a short one is
// guessed, and sign-in attempts are only slowed down.
const minAPITokenLen = 16

// readAPIToken sets the API token: from api_token_env, or the one kept in
// the database (MakeAPIToken).
func (s *Server) readAPIToken(ctx context.Context) error {
	env := s.cfg.APITokenEnv
	if env == "" {
		if !s.cfg.MakeAPIToken {
			return nil
		}
		token, made, err := s.Store.MadeAPIToken(ctx)
		if made {
			s.MadeAPIToken = token
		}
		s.apiToken = token
		return err
	}
	s.apiToken = os.Getenv(env)
	if s.apiToken == "" {
		return fmt.Errorf("api_token_env: $%s is empty", env)
	}
	if len(s.apiToken) < minAPITokenLen {
		return fmt.Errorf("api_token_env: $%s holds %d characters, want at least %d", env, len(s.apiToken), minAPITokenLen)
	}
	return nil
}

// Start listens and serves, and starts the schedule, polling and liveness
// loops. It also recovers what this server's killed process left: its
// running jobs become failed (other servers' jobs are left alone).
func (s *Server) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return err
	}
	s.listener = ln
	if s.cfg.BaseURL == "" {
		s.cfg.BaseURL = "http://" + ln.Addr().String()
		s.Pipes.BaseURL = s.cfg.BaseURL
	}
	hosts, err := newHostCheck(ln.Addr().String(), s.cfg.BaseURL, s.cfg.AllowedHosts)
	if err != nil {
		ln.Close()
		return err
	}
	if s.Images != nil {
		// Jobs push to the registry on the server's own listener.
		s.Pipes.RegistryHost = ln.Addr().String()
		if s.Envs != nil {
			s.Envs.RegistryHost = s.Pipes.RegistryHost
		}
	}
	// Jobs retried now already get the server's address and registry.
	if err := s.Pipes.Recover(ctx, s.cfg.HeartbeatGrace, "the Slipway server stopped while the job was running"); err != nil {
		ln.Close()
		return fmt.Errorf("recovering: %w", err)
	}
	if s.Envs != nil {
		// The embedded proxy starts empty; the environments' containers ran on.
		s.Envs.RestoreRoutes(ctx)
	}
	s.http = &http.Server{Handler: hosts.handler(s.Handler()), ReadHeaderTimeout: 10 * time.Second}
	s.drain = httpdrain.Track(s.http)
	go func() {
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http server", "err", err)
		}
	}()
	loopCtx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	s.every(loopCtx, s.cfg.HeartbeatInterval, false, s.liveness)
	s.every(loopCtx, s.cfg.ScheduleTick, true, s.fireSchedules)
	s.every(loopCtx, s.cfg.PollInterval, false, s.pollProjects)
	if s.Images != nil && s.cleanup != nil {
		// At once too: a restart runs what fell due while it was down.
		s.every(loopCtx, s.cfg.Registry.CleanupEvery, true, s.cleanupPass)
	}
	if s.Envs != nil {
		// At once too: a restart resumes the stops it left.
		s.every(loopCtx, s.cfg.Environments.AutoStopTick, true, s.environmentsPass)
	}
	if s.usage != nil {
		s.every(loopCtx, s.usageInterval(), true, s.usagePass)
	}
	if s.kubeHost != nil {
		// The routes follow the pods' addresses as they change.
		s.loops.Add(1)
		go func() {
			defer s.loops.Done()
			if err := s.kubeHost.Follow(loopCtx); err != nil {
				s.log.Error("environments: following the pods' addresses", "err", err)
			}
		}()
	}
	s.every(loopCtx, s.cfg.ExpiryTick, false, s.expire)
	s.startDeliveryWorkers(loopCtx)
	s.startGitops(loopCtx)
	s.log.Info("slipway serving", "addr", ln.Addr().String(), "data", s.cfg.DataDir, "database", s.Store.Dialect(),
		"server", s.cfg.ServerName, "server_id", s.Pipes.Server.ID)
	return nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.listener.Addr().String() }

// URL is the server's base URL.
func (s *Server) URL() string { return s.cfg.BaseURL }

// Close stops the loops, cancels running pipelines, drains notifications
// and closes the store.
func (s *Server) Close(ctx context.Context) error {
	stopBeating := func() {}
	if s.stop != nil {
		s.stop()
		s.loops.Wait()
		// The heartbeat goes on while the pipelines wind down, or other
		// servers could take this one for dead meanwhile.
		var beat context.Context
		beat, stopBeating = context.WithCancel(context.Background())
		s.every(beat, s.cfg.HeartbeatInterval, false, func(ctx context.Context) { s.heartbeat(ctx) })
	}
	// Pipelines first: their end also ends the live streams that would
	// otherwise hold the HTTP shutdown.
	s.Pipes.Shutdown()
	stopBeating()
	s.loops.Wait()
	// A clean stop: the next process of this name starts at once.
	if err := s.Store.UnregisterServer(ctx, s.Pipes.Server); err != nil {
		s.log.Error("unregistering", "err", err)
	}
	if s.http != nil {
		s.drain.Shutdown(ctx)
	}
	// Final statuses still go out, within their own deadline.
	notifyCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.closeGitops(notifyCtx)
	s.notifier.Close(notifyCtx)
	if s.Images != nil {
		s.Images.Close()
	}
	s.closeProxy()
	err := s.Store.Close()
	s.unlock()
	return err
}

// lockFolders makes the data folder and takes its lock, and that of the
// SQLite database's folder: two servers on one SQLite database (or one
// data folder) would each take the other's running jobs for their own.
func lockFolders(cfg Config) (func(), error) {
	dirs := []string{cfg.DataDir}
	if path, ok := strings.CutPrefix(cfg.Database, "sqlite://"); ok {
		abs, err := filepath.Abs(filepath.Dir(path))
		if err != nil {
			return nil, err
		}
		dirs = append(dirs, abs)
	}
	for _, dir := range dirs {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
	}
	return lockDirs(dirs...)
}

func (s *Server) closeProxy() {
	if s.proxy != nil {
		s.proxy.Close()
	}
}
