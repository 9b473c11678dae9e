// Package joblog stores job logs as files, one line per engine log event,
// with masked variables replaced, and lets readers follow a log live.
package joblog

import (
	"bufio"
	"context"
	"fmt"
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
type Store struct {
	Dir string

	mu   sync.Mutex
	open map[string]*logFile
}

type logFile struct {
	f    *os.File
	subs map[chan string]struct{}
}

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
		lf = &logFile{f: f, subs: map[chan string]struct{}{}}
		s.open[path] = lf
	}
	if _, err := lf.f.WriteString(line + "\n"); err != nil {
		return err
	}
	for ch := range lf.subs {
		select {
		case ch <- line:
		default: // a reader that cannot keep up misses lines rather than blocking jobs
		}
	}
	return nil
}

// Close ends a job's log: live readers see their channel closed.
func (s *Store) Close(pipelineID, jobID int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	path := s.Path(pipelineID, jobID)
	if lf := s.open[path]; lf != nil {
		lf.f.Close()
		for ch := range lf.subs {
			close(ch)
			delete(lf.subs, ch)
		}
		delete(s.open, path)
	}
}

// Read returns the log's lines so far.
func (s *Store) Read(pipelineID, jobID int64) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return readLines(s.Path(pipelineID, jobID))
}

func readLines(path string) ([]string, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out, sc.Err()
}

// Follow returns the lines so far and, when the job is still writing, a
// channel of the lines that come after them, closed when the log ends or
// ctx is done. A nil channel means the log is complete.
func (s *Store) Follow(ctx context.Context, pipelineID, jobID int64) ([]string, <-chan string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	path := s.Path(pipelineID, jobID)
	lines, err := readLines(path)
	if err != nil {
		return nil, nil, err
	}
	lf := s.open[path]
	if lf == nil {
		return lines, nil, nil
	}
	ch := make(chan string, 1024)
	lf.subs[ch] = struct{}{}
	go func() {
		<-ctx.Done()
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, ok := lf.subs[ch]; ok {
			delete(lf.subs, ch)
			close(ch)
		}
	}()
	return lines, ch, nil
}
