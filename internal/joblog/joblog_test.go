package joblog

import (
	"context"
	"reflect"
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
