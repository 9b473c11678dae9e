package kubernetes

import (
	"slices"
	"strings"
	"testing"

	"github.com/slipway-cd/slipway/internal/ci"
	"github.com/slipway-cd/slipway/internal/executor"
)

func testJob(spec *executor.Spec) *job {
	e := &Executor{opts: Options{HelperImage: "helper:1", Installation: "ci-1"}}
	if err := e.opts.defaults(); err != nil {
		panic(err)
	}
	return e.newJob(spec)
}

// The build container follows GitLab's entrypoint rules.
func TestBuildCommandFollowsGitLabsEntrypointRules(t *testing.T) {
	for _, tc := range []struct {
		name          string
		entrypoint    []string
		env           []string
		command, args []string
	}{
		{"the image's entrypoint is replaced by the shell", nil, nil, []string{"sh"}, nil},
		{"entrypoint [\"\"] clears it", []string{""}, nil, []string{"sh"}, nil},
		{"image:entrypoint runs the shell", []string{"/init", "--"}, nil, []string{"/init", "--"}, []string{"sh"}},
		{"FF_KUBERNETES_HONOR_ENTRYPOINT keeps the image's", nil, []string{"FF_KUBERNETES_HONOR_ENTRYPOINT=true"}, nil, []string{"sh"}},
	} {
		j := testJob(&executor.Spec{JobName: "j", ID: "slipway-1-2", Image: &ci.Image{Name: "alpine", Entrypoint: tc.entrypoint}, Env: tc.env})
		pod, err := j.pod()
		if err != nil {
			t.Fatal(err)
		}
		b := pod.Spec.Containers[0]
		if b.Name != buildContainer || !slices.Equal(b.Command, tc.command) || !slices.Equal(b.Args, tc.args) || !b.Stdin {
			t.Errorf("%s: command %q args %q stdin %v, want %q %q true", tc.name, b.Command, b.Args, b.Stdin, tc.command, tc.args)
		}
	}
}

// Services are containers of the pod, named by their aliases that are DNS
// names, with the job's variables and then their own.
func TestServicesAreContainersWithHostAliases(t *testing.T) {
	j := testJob(&executor.Spec{
		JobName: "j", ID: "slipway-1-2", Image: &ci.Image{Name: "alpine"},
		Env: []string{"DB=app", "SECRET=s3"},
		Services: []ci.Service{
			{Name: "registry.example.com/team/postgres:16", Alias: "db", Variables: ci.Variables{{Name: "POSTGRES_DB", Value: "$DB"}}},
			{Name: "redis:7", Entrypoint: []string{"redis-server"}, Command: []string{"--port", "6380"}},
		},
	})
	pod, err := j.pod()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(pod.Spec.Containers); n != 4 {
		t.Fatalf("%d containers, want build, helper and two services", n)
	}
	pg, redis := pod.Spec.Containers[2], pod.Spec.Containers[3]
	env := map[string]string{}
	for _, e := range pg.Env {
		env[e.Name] = e.Value
	}
	if pg.Image != "registry.example.com/team/postgres:16" || env["POSTGRES_DB"] != "app" || env["SECRET"] != "s3" {
		t.Errorf("postgres service: %s %v", pg.Image, env)
	}
	if !slices.Equal(redis.Command, []string{"redis-server"}) || !slices.Equal(redis.Args, []string{"--port", "6380"}) {
		t.Errorf("redis service: command %q args %q", redis.Command, redis.Args)
	}
	hosts := pod.Spec.HostAliases[0]
	if want := []string{"db", "team-postgres", "redis"}; hosts.IP != "127.0.0.1" || !slices.Equal(hosts.Hostnames, want) {
		t.Errorf("host aliases %s %q, want 127.0.0.1 %q", hosts.IP, hosts.Hostnames, want)
	}
	// The build container's variables are not in the spec.
	if len(pod.Spec.Containers[0].Env) != 0 {
		t.Errorf("the build container's spec holds variables: %v", pod.Spec.Containers[0].Env)
	}
	if !strings.Contains(string(j.script([]string{"true"})), "export SECRET='s3'\n") {
		t.Error("the script does not export the job's variables")
	}
	if pod.Labels[LabelJob] != "slipway-1-2" || pod.Annotations[AnnotationInstallation] != "ci-1" || pod.Labels[LabelInstallation] == "" {
		t.Errorf("labels %v annotations %v", pod.Labels, pod.Annotations)
	}
	if *pod.Spec.AutomountServiceAccountToken {
		t.Error("a job without a configured service account gets an API token")
	}
}
