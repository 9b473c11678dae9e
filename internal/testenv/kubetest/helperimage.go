package kubetest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// ContainerdSocket is the node's containerd, where images are imported.
func ContainerdSocket() string {
	run := os.Getenv("SLIPWAY_KUBE_RUN")
	if run == "" {
		run = "/run/slipway-kube"
	}
	return filepath.Join(run, "containerd.sock")
}

// ImportImage loads a `docker save` or OCI archive into the node's
// containerd, where pods find it without pulling.
func ImportImage(archive string) error {
	out, err := exec.Command("ctr", "--address", ContainerdSocket(), "-n", "k8s.io", "images", "import", archive).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ctr images import %s: %v\n%s", archive, err, out)
	}
	return nil
}

var helperImage = sync.OnceValues(BuildHelperImage)

// HelperImage is the Kubernetes executor's helper image of this checkout's
// slipway, built static, made by `slipway kubernetes helper-image` and
// imported into the node: once per test process (the build is cached by
// Go; the tag is the binary's hash, so importing again is harmless).
//
// SLIPWAY_TEST_HELPER_IMAGE names a helper image already on the node
// instead, to skip the build while working on the executor.
func HelperImage(t testing.TB) string {
	t.Helper()
	if tag := os.Getenv("SLIPWAY_TEST_HELPER_IMAGE"); tag != "" {
		return tag
	}
	tag, err := helperImage()
	if err != nil {
		t.Fatalf("helper image: %v", err)
	}
	return tag
}

// BuildHelperImage is HelperImage for programs (benchmarks): it builds,
// makes and imports the image every time it is called.
func BuildHelperImage() (string, error) {
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	tmp, err := os.MkdirTemp("", "slipway-helper-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "slipway")
	build := exec.Command("go", "build", "-o", bin, "./cmd/slipway")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/slipway: %v\n%s", err, out)
	}
	archive := filepath.Join(tmp, "helper.tar")
	out, err := exec.Command(bin, "kubernetes", "helper-image", "--output", archive).Output()
	if err != nil {
		return "", fmt.Errorf("slipway kubernetes helper-image: %w", err)
	}
	if err := ImportImage(archive); err != nil {
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}
