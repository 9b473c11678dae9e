// Package joblog stores job logs as files, one line per engine log event,
// with masked variables replaced, and lets readers follow a log live.
package joblog

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// Mask is what a masked value becomes in a log.
const Mask = "[MASKED]"

// Masker replaces secret values in text.
type Masker struct{ r *strings.Replacer }

// NewMasker masks each value; values shorter than 8 characters are not
// maskable in GitLab and are refused by the server, but are masked here too.
func NewMasker(values []string) Masker {
	vals := append([]string(nil), values...)
	// Longer values first, so a secret that contains another is masked whole.
	sort.Slice(vals, func(i, j int) bool { return len(vals[i]) > len(vals[j]) })
	var pairs []string
	for _, v := range vals {
		if v != "" {
			pairs = append(pairs, v, Mask)
		}
	}
	if len(pairs) == 0 {
		return Masker{}
	}
	return Masker{r: strings.NewReplacer(pairs...)}
}

// Apply returns s with every secret replaced.
func (m Masker) Apply(s string) string {
	if m.r == nil {
		return s
	}
	return m.r.Replace(s)
}

// Store keeps logs under a folder: <dir>/<pipeline>/<job>.log.
//
// The mutex only guards bookkeeping (open files, their sizes, followers);
// file contents are read outside it, up to a size noted under it, so a
// reader of a big log never holds up Append on the engine's event path.
type Store struct {
	Dir string

	mu   sync.Mutex
	open map[string]*logFile
}

type logFile struct {
	f      *os.File
	size   int64 // bytes of whole lines written; readers stop here
	closed bool
	// Followers are woken, never handed lines: each reads the file from
	// its own offset, so a slow one falls behind without losing lines and
	// without blocking Append.
	wake map[chan struct{}]struct{}
}

// testHookRead, when set, runs while a log file is being read.
var testHookRead func()

// Path is where a job's log lives.
func (s *Store) Path(pipelineID, jobID int64) string {
	return filepath.Join(s.Dir, fmt.Sprint(pipelineID), fmt.Sprintf("%d.log", jobID))
}

// Append adds one line (already masked) to a job's log and hands it to
// live readers.
func (s *Store) Append(pipelineID, jobID int64, line string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.open == nil {
		s.open = map[string]*logFile{}
	}
	path := s.Path(pipelineID, jobID)
	lf := s.open[path]
	if lf == nil {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		// The file may hold lines from before a restart.
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return err
		}
		lf = &logFile{f: f, size: fi.Size(), wake: map[chan struct{}]struct{}{}}
		s.open[path] = lf
	}
	n, err := lf.f.WriteString(line + "\n")
	lf.size += int64(n)
	if err != nil {
		return err
	}
	lf.notify()
	return nil
}

// notify wakes every follower; one pending wake-up is enough, as a woken
// follower reads everything written so far. Called with s.mu held.
func (lf *logFile) notify() {
	for w := range lf.wake {
		select {
		case w <- struct{}{}:
		default:
		}
	}
}

// Close ends a job's log: live readers get the remaining lines, then see
// their channel closed.
func (s *Store) Close(pipelineID, jobID int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	path := s.Path(pipelineID, jobID)
	if lf := s.open[path]; lf != nil {
		lf.f.Close()
		lf.closed = true
		lf.notify()
		delete(s.open, path)
	}
}

// Read returns the log's lines so far, all in memory: for tests and small
// logs. Servers stream a log with Copy, Tail and Follow.
func (s *Store) Read(pipelineID, jobID int64) ([]string, error) {
	f, size, err := s.openRead(pipelineID, jobID)
	if f == nil || err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	err = readLines(f, 0, size, func(l string) bool { out = append(out, l); return true })
	return out, err
}

// openRead opens a job's log for reading with the size of its whole lines; a
// log not written yet gives a nil file.
func (s *Store) openRead(pipelineID, jobID int64) (*os.File, int64, error) {
	path := s.Path(pipelineID, jobID)
	s.mu.Lock()
	size, err := s.sizeLocked(path)
	s.mu.Unlock()
	if err != nil || size == 0 {
		return nil, 0, err
	}
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, 0, nil
	}
	return f, size, err
}

// Copy writes the log so far to w as it is stored, a buffer at a time.
func (s *Store) Copy(w io.Writer, pipelineID, jobID int64) (int64, error) {
	f, size, err := s.openRead(pipelineID, jobID)
	if f == nil || err != nil {
		return 0, err
	}
	defer f.Close()
	if testHookRead != nil {
		testHookRead()
	}
	return io.Copy(w, io.NewSectionReader(f, 0, size))
}

// Tail returns the last lines of the log that fit in max bytes, where they
// start (0: the whole log) and where they end. A last line longer than
// max comes cut at its start.
func (s *Store) Tail(pipelineID, jobID int64, max int64) (lines []string, from, end int64, err error) {
	f, size, err := s.openRead(pipelineID, jobID)
	if f == nil || err != nil {
		return nil, 0, 0, err
	}
	defer f.Close()
	from = size - min(size, max)
	err = readLines(f, from, size, func(l string) bool { lines = append(lines, l); return true })
	if from > 0 && len(lines) > 1 && !startsLine(f, from) {
		from += int64(len(lines[0])) + 1 // a piece of a line: left out
		lines = lines[1:]
	}
	return lines, from, size, err
}

// startsLine reports whether a line begins at offset off of f.
func startsLine(f *os.File, off int64) bool {
	b := make([]byte, 1)
	_, err := f.ReadAt(b, off-1)
	return err == nil && b[0] == '\n'
}

// sizeLocked is how much of the log holds whole lines. Called with s.mu
// held, so that it never counts a line Append is writing.
func (s *Store) sizeLocked(path string) (int64, error) {
	if lf := s.open[path]; lf != nil {
		return lf.size, nil
	}
	fi, err := os.Stat(path)
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// readLines calls fn with each line of f between from and to, until fn
// returns false. Lines have no length limit.
func readLines(f *os.File, from, to int64, fn func(string) bool) error {
	if testHookRead != nil {
		testHookRead()
	}
	r := bufio.NewReaderSize(io.NewSectionReader(f, from, to-from), 64<<10)
	for {
		l, err := r.ReadString('\n')
		if l != "" && !fn(strings.TrimSuffix(l, "\n")) {
			return nil
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// Line is a line of a log and the offset just past it, where a reader
// that saw it goes on.
type Line struct {
	Text string
	End  int64
}

// Follow sends the log's lines from offset from, then, while the job writes,
// each new one as it comes. The channel closes at the end of the log or
// when ctx is done. live says whether the job was writing when Follow
// began: when not, the lines are the whole log so far. Lines are read from
// the file as the reader takes them, so that a big log costs no memory.
func (s *Store) Follow(ctx context.Context, pipelineID, jobID, from int64) (lines <-chan Line, live bool, err error) {
	path := s.Path(pipelineID, jobID)
	s.mu.Lock()
	lf := s.open[path]
	if lf == nil {
		s.mu.Unlock()
		ch, err := s.send(ctx, pipelineID, jobID, from)
		return ch, false, err
	}
	wake := make(chan struct{}, 1)
	lf.wake[wake] = struct{}{}
	s.mu.Unlock()
	leave := func() {
		s.mu.Lock()
		delete(lf.wake, wake)
		s.mu.Unlock()
	}
	f, err := os.Open(path)
	if err != nil {
		leave()
		return nil, false, err
	}
	ch := make(chan Line)
	go func() {
		defer close(ch)
		defer f.Close()
		defer leave()
		off := from
		for {
			s.mu.Lock()
			end, closed := lf.size, lf.closed
			s.mu.Unlock()
			if end > off {
				var ok bool
				if off, ok = sendLines(ctx, ch, f, off, end); !ok {
					return
				}
			}
			if closed {
				return
			}
			select {
			case <-wake:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch, true, nil
}

// send sends the lines of a log nobody writes, from offset from.
func (s *Store) send(ctx context.Context, pipelineID, jobID, from int64) (<-chan Line, error) {
	f, size, err := s.openRead(pipelineID, jobID)
	if err != nil {
		return nil, err
	}
	ch := make(chan Line)
	go func() {
		defer close(ch)
		if f != nil {
			defer f.Close()
			sendLines(ctx, ch, f, from, size)
		}
	}()
	return ch, nil
}

// sendLines sends the lines of f between off and end; it returns where it
// stopped and false when ctx ended or the file could not be read (the
// reader sees the log end rather than a gap).
func sendLines(ctx context.Context, ch chan<- Line, f *os.File, off, end int64) (int64, bool) {
	stopped := false
	err := readLines(f, off, end, func(l string) bool {
		off += int64(len(l)) + 1
		select {
		case ch <- Line{Text: l, End: off}:
			return true
		case <-ctx.Done():
			stopped = true
			return false
		}
	})
	return off, err == nil && !stopped
}
