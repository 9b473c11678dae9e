// Package testenv gives tests the real services they run against: the
// project's Docker engine (started by scripts/dockerd.sh) and images built
// locally, since no image can be pulled in CI.
//
// Missing services fail the test instead of skipping it: a suite that
// silently skips its Docker tests proves nothing.
package testenv

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"
)

// DefaultDockerSocket is where scripts/dockerd.sh puts the engine's socket.
const DefaultDockerSocket = "/run/slipway-docker.sock"

// BusyboxBinary is the static busybox from Debian's busybox-static.
const BusyboxBinary = "/bin/busybox"

// DockerHost is DOCKER_HOST when set, else the socket of scripts/dockerd.sh.
func DockerHost() string {
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		return h
	}
	return "unix://" + DefaultDockerSocket
}

// Docker returns a client for the project's engine (see DockerHost) and
// fails the test when no engine answers there.
func Docker(t testing.TB) *client.Client {
	t.Helper()
	host := DockerHost()
	cli, err := client.New(client.FromEnv, client.WithHost(host))
	if err != nil {
		t.Fatalf("docker client for %s: %v", host, err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		t.Fatalf("no Docker engine answers at %s: %v\nstart one with: eval \"$(scripts/dockerd.sh up)\"", host, err)
	}
	return cli
}

var busyboxOnce struct {
	sync.Mutex
	refs map[string]string // engine host → image reference
}

// BusyboxImage returns the reference of a FROM-scratch image holding the
// host's static busybox with its applets linked in /bin (sh, echo, wget,
// httpd, ...). It builds the image once per engine; the tag carries the
// binary's hash, so a later run finds it already there.
func BusyboxImage(t testing.TB, cli *client.Client) string {
	t.Helper()
	busyboxOnce.Lock()
	defer busyboxOnce.Unlock()
	if ref, ok := busyboxOnce.refs[cli.DaemonHost()]; ok {
		return ref
	}
	ref, err := EnsureBusybox(context.Background(), cli)
	if err != nil {
		t.Fatalf("busybox test image: %v", err)
	}
	if busyboxOnce.refs == nil {
		busyboxOnce.refs = map[string]string{}
	}
	busyboxOnce.refs[cli.DaemonHost()] = ref
	return ref
}

// EnsureBusybox is BusyboxImage for programs that are not tests
// (benchmarks): it builds the image unless the engine has it already.
func EnsureBusybox(ctx context.Context, cli *client.Client) (string, error) {
	bin, err := os.ReadFile(BusyboxBinary)
	if err != nil {
		return "", fmt.Errorf("read %s (install Debian's busybox-static): %w", BusyboxBinary, err)
	}
	sum := sha256.Sum256(bin)
	ref := "slipway-test/busybox:" + hex.EncodeToString(sum[:6])
	if _, err := cli.ImageInspect(ctx, ref); err == nil {
		return ref, nil
	}
	applets, err := busyboxApplets()
	if err != nil {
		return "", err
	}
	buildCtx, err := busyboxContext(bin, applets)
	if err != nil {
		return "", err
	}
	res, err := cli.ImageBuild(ctx, buildCtx, client.ImageBuildOptions{
		Tags:   []string{ref},
		Remove: true,
		Labels: map[string]string{"slipway.test": "busybox"},
	})
	if err != nil {
		return "", fmt.Errorf("build %s: %w", ref, err)
	}
	defer res.Body.Close()
	if err := buildError(res.Body); err != nil {
		return "", fmt.Errorf("build %s: %w", ref, err)
	}
	return ref, nil
}

// BuildImage builds dockerfile (with an empty context) as tag on the engine
// and returns tag; images FROM BusyboxImage build without any pull.
func BuildImage(t testing.TB, cli *client.Client, tag, dockerfile string) string {
	t.Helper()
	return BuildContext(t, cli, tag, map[string][]byte{"Dockerfile": []byte(dockerfile)})
}

// BuildContext builds the context of files (name -> content, executable)
// with its Dockerfile as tag on the engine and returns tag.
func BuildContext(t testing.TB, cli *client.Client, tag string, files map[string][]byte) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, data := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(data))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := cli.ImageBuild(ctx, &buf, client.ImageBuildOptions{Tags: []string{tag}, Remove: true, Labels: map[string]string{"slipway.test": "image"}})
	if err != nil {
		t.Fatalf("build %s: %v", tag, err)
	}
	defer res.Body.Close()
	if err := buildError(res.Body); err != nil {
		t.Fatalf("build %s: %v", tag, err)
	}
	return tag
}

func busyboxApplets() ([]string, error) {
	out, err := exec.Command(BusyboxBinary, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --list: %w", BusyboxBinary, err)
	}
	var applets []string
	for _, a := range strings.Fields(string(out)) {
		if a != "busybox" {
			applets = append(applets, a)
		}
	}
	return applets, nil
}

// busyboxContext is a build context whose rootfs already has the applet
// links, so the build needs no RUN step (and no container).
func busyboxContext(bin []byte, applets []string) (io.Reader, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dockerfile := "FROM scratch\nCOPY rootfs/ /\nENV PATH=/bin\n"
	files := []struct {
		hdr  tar.Header
		body []byte
	}{
		{tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(dockerfile))}, []byte(dockerfile)},
		{tar.Header{Name: "rootfs/bin/", Typeflag: tar.TypeDir, Mode: 0o755}, nil},
		{tar.Header{Name: "rootfs/tmp/", Typeflag: tar.TypeDir, Mode: 0o1777}, nil},
		{tar.Header{Name: "rootfs/bin/busybox", Mode: 0o755, Size: int64(len(bin))}, bin},
	}
	for _, f := range files {
		if err := tw.WriteHeader(&f.hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.body); err != nil {
			return nil, err
		}
	}
	for _, a := range applets {
		hdr := tar.Header{Name: "rootfs/bin/" + a, Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777}
		if err := tw.WriteHeader(&hdr); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return &buf, nil
}

// buildError reads a build's JSON message stream to its end and returns the
// error it reports, if any.
func buildError(r io.Reader) error {
	dec := json.NewDecoder(r)
	for {
		var msg struct {
			Error       string `json:"error"`
			ErrorDetail struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&msg); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("read build output: %w", err)
		}
		if msg.Error != "" {
			return errors.New(msg.Error)
		}
	}
}
