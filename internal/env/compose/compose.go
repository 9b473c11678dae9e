// Package compose reads the services of an environment from a Compose file
// in the repository, with the compose-spec library, and the Slipway
// settings of each service (exposed or not, container port, health path,
// hostname, injected files) from its x-slipway extension or its
// slipway.* labels.
//
// Only what a deploy needs survives: images, commands, environment, named
// volumes and resource limits. Published ports are ignored (host ports come
// from Slipway's allocator) and bind mounts are refused (a branch must not
// read the host).
package compose

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v3"

	"github.com/slipway-cd/slipway/internal/slug"
	"github.com/slipway-cd/slipway/internal/yamlsyntax"
)

// Extension is the service key holding Slipway's settings.
const Extension = "x-slipway"

// LabelPrefix starts the labels that may hold the same settings
// (slipway.expose, slipway.port, slipway.health, slipway.hostname,
// slipway.main), for tools that drop unknown keys.
const LabelPrefix = "slipway."

// Environment is what a Compose file asks to deploy.
type Environment struct {
	// File is the Compose file, as given to Load.
	File string
	// Services are sorted by name.
	Services []Service
	// Volumes are the named volumes the services mount, sorted.
	Volumes []string
}

// Service is one service of the environment.
type Service struct {
	// Name is the Compose service name; it is also its name on the
	// environment's network.
	Name string
	// Image is the reference to run, pinned by digest at deploy time.
	Image      string
	Entrypoint []string
	Command    []string
	// Env is the service's environment, variables already interpolated.
	Env        map[string]string
	WorkingDir string
	User       string

	// Expose routes the service through the proxy on a hostname and gives
	// it a loopback port.
	Expose bool
	// Main gets the environment's own hostname ({env_slug}.{domain}); the
	// others get {env_slug}-{hostname}.{domain}.
	Main bool
	// Port is the container port that serves HTTP (exposed services).
	Port int
	// Health is the HTTP path that must answer 2xx or 3xx before traffic
	// goes to a new container; empty means "accepts TCP connections".
	Health string
	// Hostname is the {service} part of the hostname: a slug.
	Hostname string

	// MemoryBytes and NanoCPUs limit the container; zero is no limit.
	MemoryBytes int64
	NanoCPUs    int64

	Mounts []Mount
	// Files are written into the container before it starts.
	Files []File
}

// Mount is a named volume of the environment mounted in a service.
type Mount struct {
	Volume   string
	Target   string
	ReadOnly bool
}

// File is a file written into a container before it starts.
type File struct {
	// Path is absolute, inside the container.
	Path    string
	Content []byte
}

// Load reads the Compose file at path; vars interpolate ${VAR} in it (the
// job's CI variables). Errors name the file and, for Slipway's settings,
// the line and column.
func Load(ctx context.Context, path string, vars map[string]string) (*Environment, error) {
	content, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("compose file: %w", err)
	}
	return Parse(ctx, path, content, vars)
}

// Parse is Load for a file already read; name is used in errors. Keys
// that would read other files of the host (env_file, include, ...) are
// refused.
func Parse(ctx context.Context, name string, content []byte, vars map[string]string) (*Environment, error) {
	abs, err := filepath.Abs(name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(content, &doc); err != nil {
		return nil, yamlsyntax.InFile(name, content, err)
	}
	pos := positions{file: name, doc: &doc}
	if err := refuseHostFiles(&doc, pos); err != nil {
		return nil, err
	}

	details := types.ConfigDetails{
		WorkingDir:  filepath.Dir(abs),
		ConfigFiles: []types.ConfigFile{{Filename: abs, Content: content}},
		Environment: types.Mapping(vars),
	}
	project, err := loader.LoadWithContext(ctx, details, func(o *loader.Options) {
		// The environment's name comes from Slipway, never from the file.
		o.SetProjectName("slipway", true)
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}

	env := &Environment{File: name}
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range project.Services {
			if !yield(n) {
				return
			}
		}
	})
	volumes := map[string]bool{}
	for _, n := range names {
		svc, err := service(project.Services[n], pos)
		if err != nil {
			return nil, err
		}
		for _, m := range svc.Mounts {
			volumes[m.Volume] = true
		}
		env.Services = append(env.Services, svc)
	}
	env.Volumes = slices.Sorted(func(yield func(string) bool) {
		for v := range volumes {
			if !yield(v) {
				return
			}
		}
	})
	if err := pickMain(env.Services, pos); err != nil {
		return nil, err
	}
	if err := uniqueHostnames(env.Services, pos); err != nil {
		return nil, err
	}
	return env, nil
}

func service(sc types.ServiceConfig, pos positions) (Service, error) {
	s := Service{
		Name:       sc.Name,
		Image:      sc.Image,
		Entrypoint: sc.Entrypoint,
		Command:    sc.Command,
		WorkingDir: sc.WorkingDir,
		User:       sc.User,
		Env:        map[string]string{},
	}
	field := "services." + sc.Name
	if s.Image == "" {
		return s, pos.errorf([]string{"services", sc.Name}, "%s.image: required (Slipway deploys images built and pushed by the pipeline, never builds)", field)
	}
	for k, v := range sc.Environment {
		if v != nil {
			s.Env[k] = *v
		}
	}
	s.MemoryBytes = int64(sc.MemLimit)
	s.NanoCPUs = int64(sc.CPUS * 1e9)
	if sc.Deploy != nil && sc.Deploy.Resources.Limits != nil {
		lim := sc.Deploy.Resources.Limits
		if lim.MemoryBytes > 0 {
			s.MemoryBytes = int64(lim.MemoryBytes)
		}
		if lim.NanoCPUs > 0 {
			s.NanoCPUs = int64(float64(lim.NanoCPUs.Value()) * 1e9)
		}
	}
	for i, v := range sc.Volumes {
		at := []string{"services", sc.Name, "volumes", strconv.Itoa(i)}
		switch v.Type {
		case types.VolumeTypeVolume:
			if v.Source == "" {
				return s, pos.errorf(at, "%s.volumes[%d]: anonymous volume: give it a name", field, i)
			}
			s.Mounts = append(s.Mounts, Mount{Volume: v.Source, Target: v.Target, ReadOnly: v.ReadOnly})
		default:
			return s, pos.errorf(at, "%s.volumes[%d]: %s mounts are not allowed (a branch must not reach the host); use a named volume", field, i, v.Type)
		}
	}
	if err := settings(&s, sc, pos); err != nil {
		return s, err
	}
	return s, nil
}

// settings fills the Slipway settings from x-slipway, else from labels.
func settings(s *Service, sc types.ServiceConfig, pos positions) error {
	ext := map[string]any{}
	extPath := []string{"services", sc.Name, Extension}
	if raw, ok := sc.Extensions[Extension]; ok && raw != nil {
		m, ok := raw.(map[string]any)
		if !ok {
			return pos.errorf(extPath, "services.%s.%s: want a mapping, got %T", sc.Name, Extension, raw)
		}
		ext = m
	}
	for _, k := range slices.Sorted(mapKeys(ext)) {
		switch k {
		case "expose", "main", "port", "health", "hostname", "files":
		default:
			return pos.errorf(append(extPath, k), "services.%s.%s.%s: unknown key (want expose, main, port, health, hostname, files)", sc.Name, Extension, k)
		}
	}
	// get returns the setting from x-slipway or from the label, and where
	// to point an error about it.
	get := func(key string) (any, []string, string, error) {
		v, inExt := ext[key]
		l, inLabel := sc.Labels[LabelPrefix+key]
		switch {
		case inExt && inLabel:
			return nil, nil, "", pos.errorf(append(slices.Clone(extPath), key), "services.%s: %s set both in %s and as label %s%s; keep one", sc.Name, key, Extension, LabelPrefix, key)
		case inExt:
			return v, append(slices.Clone(extPath), key), fmt.Sprintf("services.%s.%s.%s", sc.Name, Extension, key), nil
		case inLabel:
			return l, []string{"services", sc.Name, "labels", LabelPrefix + key}, fmt.Sprintf("services.%s.labels.%s%s", sc.Name, LabelPrefix, key), nil
		}
		return nil, nil, "", nil
	}

	var err error
	if s.Expose, err = boolSetting(get, "expose", pos); err != nil {
		return err
	}
	if s.Main, err = boolSetting(get, "main", pos); err != nil {
		return err
	}
	v, at, field, err := get("port")
	if err != nil {
		return err
	}
	if v != nil {
		n, ok := asInt(v)
		if !ok || n < 1 || n > 65535 {
			return pos.errorf(at, "%s: want a container port 1-65535, got %v", field, v)
		}
		s.Port = n
	}
	if v, at, field, err = get("health"); err != nil {
		return err
	}
	if v != nil {
		p, ok := v.(string)
		if !ok || !strings.HasPrefix(p, "/") || strings.ContainsAny(p, " \t\r\n") {
			return pos.errorf(at, "%s: want an HTTP path starting with /, got %v", field, v)
		}
		s.Health = p
	}
	s.Hostname = slug.Label(sc.Name)
	if v, at, field, err = get("hostname"); err != nil {
		return err
	}
	if v != nil {
		h, ok := v.(string)
		if !ok || h == "" || slug.Label(h) != h {
			return pos.errorf(at, "%s: want lower-case letters, digits and single inner dashes, got %v", field, v)
		}
		s.Hostname = h
	}
	if s.Expose && s.Port == 0 {
		return pos.errorf(append(slices.Clone(extPath), "expose"), "services.%s: exposed but no port: add %s.port (the container port serving HTTP)", sc.Name, Extension)
	}
	if s.Expose && s.Hostname == "" {
		return pos.errorf([]string{"services", sc.Name}, "services.%s: the name gives no hostname: add %s.hostname", sc.Name, Extension)
	}
	if s.Main && !s.Expose {
		return pos.errorf(append(slices.Clone(extPath), "main"), "services.%s: main but not exposed: add %s.expose: true", sc.Name, Extension)
	}
	if raw, ok := ext["files"]; ok {
		files, err := filesSetting(raw, append(slices.Clone(extPath), "files"), "services."+sc.Name+"."+Extension+".files", pos)
		if err != nil {
			return err
		}
		s.Files = files
	}
	return nil
}

type getter func(key string) (any, []string, string, error)

func boolSetting(get getter, key string, pos positions) (bool, error) {
	v, at, field, err := get(key)
	if err != nil || v == nil {
		return false, err
	}
	switch b := v.(type) {
	case bool:
		return b, nil
	case string:
		if p, err := strconv.ParseBool(b); err == nil {
			return p, nil
		}
	}
	return false, pos.errorf(at, "%s: want true or false, got %v", field, v)
}

// filesSetting reads a list of {path, content} or {path, json}: json is
// any YAML value, written as JSON, so interpolated values (a branch name)
// are always escaped.
func filesSetting(raw any, at []string, field string, pos positions) ([]File, error) {
	list, ok := raw.([]any)
	if !ok {
		return nil, pos.errorf(at, "%s: want a list of {path, content} or {path, json}", field)
	}
	var files []File
	seen := map[string]bool{}
	for i, item := range list {
		iat := append(slices.Clone(at), strconv.Itoa(i))
		ifield := fmt.Sprintf("%s[%d]", field, i)
		m, ok := item.(map[string]any)
		if !ok {
			return nil, pos.errorf(iat, "%s: want {path, content} or {path, json}", ifield)
		}
		p, _ := m["path"].(string)
		if !filepath.IsAbs(p) || filepath.Clean(p) != p || p == "/" {
			return nil, pos.errorf(iat, "%s.path: want a clean absolute path in the container, got %v", ifield, m["path"])
		}
		if seen[p] {
			return nil, pos.errorf(iat, "%s.path: %s given twice", ifield, p)
		}
		seen[p] = true
		f := File{Path: p}
		content, hasContent := m["content"]
		js, hasJSON := m["json"]
		switch {
		case hasContent && hasJSON:
			return nil, pos.errorf(iat, "%s: content and json both set; keep one", ifield)
		case hasContent:
			s, ok := content.(string)
			if !ok {
				return nil, pos.errorf(iat, "%s.content: want a string", ifield)
			}
			f.Content = []byte(s)
		case hasJSON:
			b, err := json.Marshal(js)
			if err != nil {
				return nil, pos.errorf(iat, "%s.json: %v", ifield, err)
			}
			f.Content = append(b, '\n')
		default:
			return nil, pos.errorf(iat, "%s: want content or json", ifield)
		}
		for k := range m {
			if k != "path" && k != "content" && k != "json" {
				return nil, pos.errorf(append(iat, k), "%s.%s: unknown key (want path, content, json)", ifield, k)
			}
		}
		files = append(files, f)
	}
	return files, nil
}

// pickMain makes the only exposed service the main one, and asks for
// main: true when several are exposed.
func pickMain(svcs []Service, pos positions) error {
	var exposed, mains []int
	for i, s := range svcs {
		if s.Expose {
			exposed = append(exposed, i)
		}
		if s.Main {
			mains = append(mains, i)
		}
	}
	switch {
	case len(mains) > 1:
		return pos.errorf([]string{"services", svcs[mains[1]].Name, Extension, "main"}, "services.%s and services.%s are both main; keep one", svcs[mains[0]].Name, svcs[mains[1]].Name)
	case len(mains) == 0 && len(exposed) == 1:
		svcs[exposed[0]].Main = true
	case len(mains) == 0 && len(exposed) > 1:
		return pos.errorf([]string{"services"}, "services: %d services are exposed and none is main: add %s.main: true to the one that gets the environment's own hostname", len(exposed), Extension)
	}
	return nil
}

func uniqueHostnames(svcs []Service, pos positions) error {
	by := map[string]string{}
	for _, s := range svcs {
		if !s.Expose || s.Main {
			continue
		}
		if other, ok := by[s.Hostname]; ok {
			return pos.errorf([]string{"services", s.Name}, "services.%s: hostname %q is also services.%s's; set %s.hostname", s.Name, s.Hostname, other, Extension)
		}
		by[s.Hostname] = s.Name
	}
	return nil
}

func asInt(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case int64:
		return int(n), true
	case uint64:
		return int(n), true
	case float64:
		if n == float64(int(n)) {
			return int(n), true
		}
	case string:
		i, err := strconv.Atoi(n)
		return i, err == nil
	}
	return 0, false
}

func mapKeys(m map[string]any) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// positions finds where a key path is in the file, for errors.
type positions struct {
	file string
	doc  *yaml.Node
}

// errorf returns an error starting with file:line:col of the deepest node
// of path found in the file (a label may come from an env_file: then the
// service's line is the best we have).
func (p positions) errorf(path []string, format string, args ...any) error {
	line, col := p.find(path)
	msg := fmt.Sprintf(format, args...)
	if line == 0 {
		return fmt.Errorf("%s: %w", p.file, errors.New(msg))
	}
	return fmt.Errorf("%s:%d:%d: %w", p.file, line, col, errors.New(msg))
}

func (p positions) find(path []string) (line, col int) {
	n := p.doc
	if n == nil || n.Kind != yaml.DocumentNode || len(n.Content) == 0 {
		return 0, 0
	}
	n = n.Content[0]
	line, col = n.Line, n.Column
	for _, key := range path {
		for n.Kind == yaml.AliasNode {
			n = n.Alias
		}
		var next *yaml.Node
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == key {
					line, col = n.Content[i].Line, n.Content[i].Column
					next = n.Content[i+1]
					break
				}
			}
			// Labels may be a list of "key=value".
		case yaml.SequenceNode:
			if i, err := strconv.Atoi(key); err == nil && i < len(n.Content) {
				next = n.Content[i]
			} else {
				for _, item := range n.Content {
					if strings.HasPrefix(item.Value, key+"=") {
						next = item
						break
					}
				}
			}
			if next != nil {
				line, col = next.Line, next.Column
			}
		}
		if next == nil {
			return line, col
		}
		n = next
	}
	return line, col
}
