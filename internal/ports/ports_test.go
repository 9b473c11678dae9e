package ports

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// freeRange returns a range of n ports none of which is bound now, so tests
// do not depend on what else runs on the machine.
func freeRange(t *testing.T, n int) Range {
	t.Helper()
	for lo := 20000 + os.Getpid()%20000; lo+n < 65000; lo += n {
		ok := true
		for p := lo; p < lo+n && ok; p++ {
			ok = bindable(p)
		}
		if ok {
			return Range{lo, lo + n - 1}
		}
	}
	t.Fatalf("no %d consecutive free ports", n)
	return Range{}
}

func newAllocator(t *testing.T, dir string, r Range) *Allocator {
	t.Helper()
	a, err := New(dir, r)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestConcurrentReservationsAreDistinct(t *testing.T) {
	rng := freeRange(t, 40)
	a := newAllocator(t, t.TempDir(), rng)
	ctx := context.Background()
	ports := make([]int, 20)
	errs := make([]error, 20)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			ports[i], errs[i] = a.Reserve(ctx, fmt.Sprintf("review-mr-%d", i), "app")
		})
	}
	wg.Wait()
	seen := map[int]int{}
	for i, p := range ports {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if p < rng.Low || p > rng.High {
			t.Errorf("port %d outside %d-%d", p, rng.Low, rng.High)
		}
		if j, dup := seen[p]; dup {
			t.Errorf("environments %d and %d both got port %d", j, i, p)
		}
		seen[p] = i
	}
	if rs, _ := a.List(ctx); len(rs) != 20 {
		t.Errorf("List holds %d reservations, want 20", len(rs))
	}
}

func TestReserveIsIdempotentAndReleaseFreesForReuse(t *testing.T) {
	rng := freeRange(t, 10)
	a := newAllocator(t, t.TempDir(), rng)
	ctx := context.Background()
	app, _ := a.Reserve(ctx, "review-a", "app")
	sig, _ := a.Reserve(ctx, "review-a", "sigver")
	again, err := a.Reserve(ctx, "review-a", "app")
	if err != nil || again != app || app == sig {
		t.Fatalf("app %d, sigver %d, app again %d (%v): want app again == app != sigver", app, sig, again, err)
	}
	for range 2 { // idempotent
		if err := a.Release(ctx, "review-a", "app"); err != nil {
			t.Fatal(err)
		}
	}
	if p, _ := a.Reserve(ctx, "review-b", "app"); p != app {
		t.Errorf("after release, the next reservation got %d, want the freed %d", p, app)
	}
	if err := a.ReleaseEnv(ctx, "review-a"); err != nil {
		t.Fatal(err)
	}
	rs, _ := a.List(ctx)
	if len(rs) != 1 || rs[0].Env != "review-b" {
		t.Errorf("after ReleaseEnv(review-a) reservations = %+v, want only review-b's", rs)
	}
}

func TestBoundPortIsSkipped(t *testing.T) {
	rng := freeRange(t, 5)
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(rng.Low))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	a := newAllocator(t, t.TempDir(), rng)
	p, err := a.Reserve(context.Background(), "review-a", "app")
	if err != nil || p == rng.Low {
		t.Fatalf("Reserve = %d, %v; want a port other than %d, bound by someone else", p, err, rng.Low)
	}
}

func TestReserveAvoidingMovesTheReservation(t *testing.T) {
	rng := freeRange(t, 5)
	a := newAllocator(t, t.TempDir(), rng)
	ctx := context.Background()
	first, _ := a.Reserve(ctx, "review-a", "app")
	other, _ := a.Reserve(ctx, "review-b", "app")
	moved, err := a.Reserve(ctx, "review-a", "app", first)
	if err != nil || moved == first || moved == other {
		t.Fatalf("Reserve avoiding %d = %d, %v; want a third port (review-b has %d)", first, moved, err, other)
	}
	if again, _ := a.Reserve(ctx, "review-a", "app"); again != moved {
		t.Errorf("the moved reservation is %d, then %d", moved, again)
	}
	rs, _ := a.List(ctx)
	if len(rs) != 2 {
		t.Errorf("reservations = %+v, want review-a's moved one and review-b's", rs)
	}
	// The avoided port is free again for others.
	if p, _ := a.Reserve(ctx, "review-c", "app"); p != first {
		t.Errorf("review-c got %d, want the released %d", p, first)
	}
}

func TestFullRange(t *testing.T) {
	rng := freeRange(t, 2)
	a := newAllocator(t, t.TempDir(), rng)
	ctx := context.Background()
	for _, svc := range []string{"a", "b"} {
		if _, err := a.Reserve(ctx, "review-x", svc); err != nil {
			t.Fatal(err)
		}
	}
	_, err := a.Reserve(ctx, "review-x", "c")
	if err == nil || !strings.Contains(err.Error(), "no free port") {
		t.Fatalf("third reservation in a 2-port range: err = %v, want no free port", err)
	}
}

func TestOwnerMustBeSlugs(t *testing.T) {
	a := newAllocator(t, t.TempDir(), freeRange(t, 2))
	if _, err := a.Reserve(context.Background(), "Feature/../../etc; rm -rf $HOME", "app"); err == nil {
		t.Fatal("Reserve with a raw branch name succeeded, want an error")
	}
}

func TestCorruptFileNamesPosition(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	if err := os.WriteFile(path, []byte("{\n  \"version\": 1,\n  \"reservations\": [ {\"port\": \"x\"} ]\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	a := newAllocator(t, dir, freeRange(t, 2))
	_, err := a.Reserve(context.Background(), "review-a", "app")
	if err == nil || !strings.Contains(err.Error(), path+":3:") {
		t.Fatalf("Reserve over a corrupt file: err = %v, want it to name %s:3:col", err, path)
	}
}

func TestParseRange(t *testing.T) {
	if r, err := ParseRange(""); err != nil || r != DefaultRange {
		t.Errorf("ParseRange(\"\") = %v, %v; want %v", r, err, DefaultRange)
	}
	if r, err := ParseRange("9000-9100"); err != nil || r != (Range{9000, 9100}) {
		t.Errorf("ParseRange(9000-9100) = %v, %v", r, err)
	}
	for _, s := range []string{"9000", "9100-9000", "0-10", "a-b", "9000-70000"} {
		if _, err := ParseRange(s); err == nil || !strings.Contains(err.Error(), "ports.range") {
			t.Errorf("ParseRange(%q) = %v, want an error naming ports.range", s, err)
		}
	}
}

// Two processes reserving at the same time from one folder never get the
// same port. The test binary is re-run as the helper below.
func TestTwoProcessesNeverShareAPort(t *testing.T) {
	rng := freeRange(t, 60)
	dir := t.TempDir()
	const perProcess = 20
	outs := make([][]byte, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() {
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperReserve$")
			cmd.Env = append(os.Environ(), "PORTS_HELPER_DIR="+dir,
				fmt.Sprintf("PORTS_HELPER_RANGE=%d-%d", rng.Low, rng.High),
				fmt.Sprintf("PORTS_HELPER_ENV=review-proc-%d", i),
				fmt.Sprintf("PORTS_HELPER_N=%d", perProcess))
			outs[i], errs[i] = cmd.CombinedOutput()
		})
	}
	wg.Wait()
	owner := map[int]int{}
	for i, out := range outs {
		if errs[i] != nil {
			t.Fatalf("process %d: %v\n%s", i, errs[i], out)
		}
		n := 0
		for _, line := range strings.Split(string(out), "\n") {
			p, ok := strings.CutPrefix(line, "PORT ")
			if !ok {
				continue
			}
			port, _ := strconv.Atoi(p)
			if j, dup := owner[port]; dup {
				t.Errorf("processes %d and %d both got port %d", j, i, port)
			}
			owner[port] = i
			n++
		}
		if n != perProcess {
			t.Fatalf("process %d reported %d ports, want %d:\n%s", i, n, perProcess, out)
		}
	}
	rs, err := newAllocator(t, dir, rng).List(context.Background())
	if err != nil || len(rs) != 2*perProcess {
		t.Fatalf("reservation file holds %d reservations (%v), want %d", len(rs), err, 2*perProcess)
	}
}

// TestHelperReserve is not a test: TestTwoProcessesNeverShareAPort runs it
// in child processes.
func TestHelperReserve(t *testing.T) {
	dir := os.Getenv("PORTS_HELPER_DIR")
	if dir == "" {
		t.Skip("helper process for TestTwoProcessesNeverShareAPort")
	}
	rng, err := ParseRange(os.Getenv("PORTS_HELPER_RANGE"))
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(os.Getenv("PORTS_HELPER_N"))
	a := newAllocator(t, dir, rng)
	for i := range n {
		p, err := a.Reserve(context.Background(), os.Getenv("PORTS_HELPER_ENV"), fmt.Sprintf("svc-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("PORT %d\n", p)
	}
}

func BenchmarkReserveRelease(b *testing.B) {
	a, err := New(b.TempDir(), Range{40000, 40999})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for b.Loop() {
		if _, err := a.Reserve(ctx, "review-bench", "app"); err != nil {
			b.Fatal(err)
		}
		if err := a.Release(ctx, "review-bench", "app"); err != nil {
			b.Fatal(err)
		}
	}
}

func TestEphemeralOverlap(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		t.Fatalf("the kernel's ephemeral range: %v", err)
	}
	var lo, hi int
	if _, err := fmt.Sscan(string(b), &lo, &hi); err != nil {
		t.Fatal(err)
	}
	if o, ok := (Range{lo - 10, lo + 5}).EphemeralOverlap(); !ok || o != (Range{lo, lo + 5}) {
		t.Errorf("overlap of %d-%d = %+v %v, want %d-%d", lo-10, lo+5, o, ok, lo, lo+5)
	}
	if _, ok := (Range{lo - 10, lo - 1}).EphemeralOverlap(); ok {
		t.Errorf("a range below %d overlaps", lo)
	}
	if _, ok := (Range{hi + 1, 65535}).EphemeralOverlap(); ok && hi < 65535 {
		t.Errorf("a range above %d overlaps", hi)
	}
}
