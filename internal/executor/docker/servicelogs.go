package docker

import (
	"bytes"
	"context"
	"io"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"
)

// serviceLogDrain bounds how long cleanup waits for the last lines of
// services' logs once their containers are gone.
const serviceLogDrain = 2 * time.Second

// prefixWriter writes whole lines to w, each after prefix.
type prefixWriter struct {
	w       io.Writer
	prefix  []byte
	partial []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			p.partial = append(p.partial, b...)
			break
		}
		line := append(append(append([]byte(nil), p.prefix...), p.partial...), b[:i+1]...)
		p.partial = p.partial[:0]
		if _, err := p.w.Write(line); err != nil {
			return 0, err
		}
		b = b[i+1:]
	}
	return n, nil
}

// flush writes a last line without its newline, if any.
func (p *prefixWriter) flush() {
	if len(p.partial) > 0 {
		_, _ = p.Write([]byte("\n"))
	}
}

// followServiceLogs copies a service's output into the job log, each line
// after "[service:name] ", as GitLab does with CI_DEBUG_SERVICES, until the
// container is gone or stop is called.
func (j *job) followServiceLogs(id, name string) {
	ctx, cancel := context.WithCancel(context.Background())
	j.stopLogs = append(j.stopLogs, cancel)
	j.logs.Add(1)
	go func() {
		defer j.logs.Done()
		logs, err := j.cli.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Follow: true})
		if err != nil {
			return
		}
		defer logs.Close()
		w := &prefixWriter{w: j.out, prefix: []byte("[service:" + name + "] ")}
		_, _ = stdcopy.StdCopy(w, w, logs)
		w.flush()
	}()
}

// stopFollowingLogs waits a moment for the services' log streams to end
// (their containers are removed by then), then cuts them.
func (j *job) stopFollowingLogs() {
	done := make(chan struct{})
	go func() { j.logs.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(serviceLogDrain):
	}
	for _, stop := range j.stopLogs {
		stop()
	}
	<-done
}
