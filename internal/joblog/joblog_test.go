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
	lines, live, err := s.Follow(ctx, 1, 7)
	if err != nil || !reflect.DeepEqual(lines, []string{"first"}) || live == nil {
		t.Fatalf("follow: %v %v %v", lines, live, err)
	}
	s.Append(1, 7, "second")
	select {
	case l := <-live:
		if l != "second" {
			t.Errorf("live line %q", l)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no live line")
	}
	s.Close(1, 7)
	if _, ok := <-live; ok {
		t.Error("channel not closed at the end of the log")
	}
	cancel() // must not close the channel twice
	time.Sleep(10 * time.Millisecond)
	all, _ := s.Read(1, 7)
	if !reflect.DeepEqual(all, []string{"first", "second"}) {
		t.Errorf("read %q", all)
	}
	if _, live, _ := s.Follow(context.Background(), 1, 7); live != nil {
		t.Error("a finished log offered a live channel")
	}
}

// drain collects a live channel until it closes, failing after a timeout.
func drain(t *testing.T, live <-chan string, slow bool) []string {
	t.Helper()
	var got []string
	timeout := time.After(20 * time.Second)
	for {
		select {
		case l, ok := <-live:
			if !ok {
				return got
			}
			got = append(got, l)
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
			lines, live, err := s.Follow(context.Background(), 1, 1)
			if err != nil || live == nil {
				t.Fatalf("follow: %v %v", live, err)
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
			got := append(lines, drain(t, live, mode != "reads after the burst")...)
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
	lines, live, err := s.Follow(ctx, 1, 1)
	if err != nil || len(lines) != n+1 || live == nil {
		t.Fatalf("follow: %d lines, want %d: %v", len(lines), n+1, err)
	}
	select {
	case l := <-live:
		if l != "during follow" {
			t.Errorf("first live line %q", l)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("line appended during Follow's read never arrived")
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
	lines, live, err := s.Follow(context.Background(), 2, 3)
	if err != nil || !reflect.DeepEqual(lines, []string{"old", "new"}) || live == nil {
		t.Fatalf("follow: %q %v %v", lines, live, err)
	}
	s.Append(2, 3, "newer")
	s.Close(2, 3)
	if got := drain(t, live, false); !reflect.DeepEqual(got, []string{"newer"}) {
		t.Errorf("live %q", got)
	}
}
