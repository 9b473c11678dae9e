package joblog

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestMaskerMasksLongestFirst(t *testing.T) {
	m := NewMasker([]string{"s3cr3t-token", "s3cr3t-token-extended", ""})
	got := m.Apply("a s3cr3t-token-extended and s3cr3t-token.")
	if want := "a [MASKED] and [MASKED]."; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if (Masker{}).Apply("plain") != "plain" {
		t.Error("empty masker changed text")
	}
}

func TestAppendReadAndFollow(t *testing.T) {
	s := &Store{Dir: t.TempDir()}
	if err := s.Append(1, 7, "first"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	live, following, err := s.Follow(ctx, 1, 7, 0)
	if err != nil || !following {
		t.Fatalf("follow: %v %v", following, err)
	}
	if l := next(t, live); l != (Line{"first", 6}) {
		t.Errorf("first line %+v", l)
	}
	s.Append(1, 7, "second")
	if l := next(t, live); l != (Line{"second", 13}) {
		t.Errorf("live line %+v", l)
	}
	s.Close(1, 7)
	if _, ok := <-live; ok {
		t.Error("channel not closed at the end of the log")
	}
	cancel() // must not close the channel twice
	all, _ := s.Read(1, 7)
	if !reflect.DeepEqual(all, []string{"first", "second"}) {
		t.Errorf("read %q", all)
	}
	done, following, err := s.Follow(context.Background(), 1, 7, 0)
	if err != nil || following {
		t.Fatalf("a finished log is followed live: %v %v", following, err)
	}
	if got := drain(t, done, false); !reflect.DeepEqual(got, []string{"first", "second"}) {
		t.Errorf("finished log %q", got)
	}
}

// A reader that comes back with the offset of the last line it saw gets
// the lines after it, and none twice.
func TestFollowFromAnOffset(t *testing.T) {
	s := &Store{Dir: t.TempDir()}
	for _, l := range []string{"one", "two", "three"} {
		s.Append(1, 1, l)
	}
	live, _, err := s.Follow(context.Background(), 1, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	next(t, live)
	second := next(t, live)
	again, _, err := s.Follow(context.Background(), 1, 1, second.End)
	if err != nil {
		t.Fatal(err)
	}
	s.Append(1, 1, "four")
	s.Close(1, 1)
	if got := drain(t, again, false); !reflect.DeepEqual(got, []string{"three", "four"}) {
		t.Errorf("from offset %d: %q", second.End, got)
	}
	drain(t, live, false)
	none, following, err := s.Follow(context.Background(), 9, 9, 0)
	if err != nil || following || len(drain(t, none, false)) != 0 {
		t.Errorf("a log not written yet: %v %v", following, err)
	}
}

func TestTailAndCopy(t *testing.T) {
	s := &Store{Dir: t.TempDir()}
	if lines, from, end, err := s.Tail(1, 1, 100); lines != nil || from != 0 || end != 0 || err != nil {
		t.Errorf("tail of no log: %q %d %d %v", lines, from, end, err)
	}
	for i := range 10 {
		s.Append(1, 1, fmt.Sprintf("line %d", i)) // 7 bytes each
	}
	s.Close(1, 1)
	lines, from, end, err := s.Tail(1, 1, 18)
	if err != nil || !reflect.DeepEqual(lines, []string{"line 8", "line 9"}) || from != 56 || end != 70 {
		t.Errorf("tail 18: %q from %d to %d, %v; want the last two whole lines from 56 to 70", lines, from, end, err)
	}
	if lines, from, _, _ := s.Tail(1, 1, 1000); len(lines) != 10 || from != 0 {
		t.Errorf("tail of a short log: %d lines from %d", len(lines), from)
	}
	s.Append(1, 2, strings.Repeat("x", 100))
	if lines, from, _, _ := s.Tail(1, 2, 10); !reflect.DeepEqual(lines, []string{"xxxxxxxxx"}) || from != 91 {
		t.Errorf("tail of one long line: %q from %d, want its end", lines, from)
	}
	var b strings.Builder
	if n, err := s.Copy(&b, 1, 1); n != 70 || err != nil || !strings.HasPrefix(b.String(), "line 0\nline 1\n") {
		t.Errorf("copy: %d %v %q", n, err, b.String())
	}
}

// next takes a line from a follower, failing after a timeout.
func next(t *testing.T, live <-chan Line) Line {
	t.Helper()
	select {
	case l, ok := <-live:
		if !ok {
			t.Fatal("log ended")
		}
		return l
	case <-time.After(5 * time.Second):
		t.Fatal("no line")
	}
	return Line{}
}

// drain collects a live channel until it closes, failing after a timeout.
func drain(t *testing.T, live <-chan Line, slow bool) []string {
	t.Helper()
	var got []string
	timeout := time.After(20 * time.Second)
	for {
		select {
		case l, ok := <-live:
			if !ok {
				return got
			}
			got = append(got, l.Text)
			if slow && len(got)%100 == 0 {
				time.Sleep(time.Millisecond)
			}
		case <-timeout:
			t.Fatalf("live channel still open after %d lines", len(got))
		}
	}
}

func TestFollowerGetsEveryLineOnceInOrder(t *testing.T) {
	const n = 10000
	for _, mode := range []string{"reads after the burst", "reads slowly during the burst"} {
		t.Run(mode, func(t *testing.T) {
			s := &Store{Dir: t.TempDir()}
			s.Append(1, 1, "before")
			started, written := make(chan struct{}), make(chan struct{})
			go func() {
				for i := range n {
					if err := s.Append(1, 1, fmt.Sprintf("line %d", i)); err != nil {
						t.Error(err)
					}
					if i == 1000 {
						close(started)
					}
				}
				close(written)
			}()
			<-started // follow mid-burst: the snapshot/live boundary is under load
			live, following, err := s.Follow(context.Background(), 1, 1, 0)
			if err != nil || !following {
				t.Fatalf("follow: %v %v", following, err)
			}
			if mode == "reads after the burst" {
				// Nothing is read until every Append returned: a follower
				// that blocked Append would hang here.
				select {
				case <-written:
				case <-time.After(20 * time.Second):
					t.Fatal("Append blocked on a follower that does not read")
				}
				s.Close(1, 1)
			} else {
				go func() { <-written; s.Close(1, 1) }()
			}
			got := drain(t, live, mode != "reads after the burst")
			if len(got) != n+1 || got[0] != "before" {
				t.Fatalf("got %d lines, want %d, first %q", len(got), n+1, got[0])
			}
			for i, l := range got[1:] {
				if want := fmt.Sprintf("line %d", i); l != want {
					t.Fatalf("line %d is %q, want %q", i+1, l, want)
				}
			}
		})
	}
}

// While a Read or Follow is reading a big log file, Append of the same job
// must go through, and the reader sees the log as it was when it started.
func TestReadingDoesNotBlockAppend(t *testing.T) {
	s := &Store{Dir: t.TempDir()}
	const n = 50000
	for i := range n {
		s.Append(1, 1, fmt.Sprintf("%05d %s", i, strings.Repeat("x", 80)))
	}
	var during string
	testHookRead = func() {
		if during == "" {
			return
		}
		line := during
		during = "" // once per read
		done := make(chan error, 1)
		go func() { done <- s.Append(1, 1, line) }()
		select {
		case err := <-done:
			if err != nil {
				t.Error(err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("Append of %q blocked while a log was read", line)
		}
	}
	t.Cleanup(func() { testHookRead = nil })

	during = "during read"
	lines, err := s.Read(1, 1)
	if err != nil || len(lines) != n {
		t.Fatalf("read %d lines, want %d: %v", len(lines), n, err)
	}
	if lines, _ := s.Read(1, 1); len(lines) != n+1 || lines[n] != "during read" {
		t.Fatalf("second read: %d lines, last %q", len(lines), lines[len(lines)-1])
	}

	during = "during follow"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	live, following, err := s.Follow(ctx, 1, 1, 0)
	if err != nil || !following {
		t.Fatalf("follow: %v %v", following, err)
	}
	for range n {
		next(t, live)
	}
	if l := next(t, live); l.Text != "during read" {
		t.Fatalf("line %d is %q", n+1, l.Text)
	}
	// Appended while the log was read, it comes after the log as it was.
	if l := next(t, live); l.Text != "during follow" {
		t.Errorf("line %d is %q", n+2, l.Text)
	}
	cancel()
	drain(t, live, false) // closes once ctx is done
	if err := s.Append(1, 1, "after cancel"); err != nil {
		t.Fatal(err)
	}
	s.Close(1, 1)
}

func TestAppendAfterRestartKeepsOffsets(t *testing.T) {
	dir := t.TempDir()
	old := &Store{Dir: dir}
	old.Append(2, 3, "old")
	old.Close(2, 3)

	s := &Store{Dir: dir}
	s.Append(2, 3, "new")
	live, following, err := s.Follow(context.Background(), 2, 3, 0)
	if err != nil || !following {
		t.Fatalf("follow: %v %v", following, err)
	}
	s.Append(2, 3, "newer")
	s.Close(2, 3)
	if got := drain(t, live, false); !reflect.DeepEqual(got, []string{"old", "new", "newer"}) {
		t.Errorf("live %q", got)
	}
}
