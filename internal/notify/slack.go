package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// Notifier delivers one event to one receiver. Implementations make one
// attempt; the Dispatcher retries.
type Notifier interface {
	Notify(ctx context.Context, e Event) error
}

// Slack posts messages to a Slack incoming webhook.
type Slack struct {
	// URL is the incoming webhook URL. It is a secret: it never appears in
	// logs or errors.
	URL    string
	Client *http.Client
}

// Slack attachment colours by status.
var slackColors = map[Status]string{
	Success:  "#2eb67d",
	Failed:   "#e01e5a",
	Canceled: "#868686",
	Skipped:  "#868686",
	Running:  "#36c5f0",
	Pending:  "#ecb22e",
	Manual:   "#ecb22e",
}

type slackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type slackBlock struct {
	Type     string      `json:"type"`
	Text     *slackText  `json:"text,omitempty"`
	Fields   []slackText `json:"fields,omitempty"`
	Elements []slackText `json:"elements,omitempty"`
}

type slackMessage struct {
	// Text is the fallback shown in notifications.
	Text        string `json:"text"`
	Attachments []struct {
		Color  string       `json:"color"`
		Blocks []slackBlock `json:"blocks"`
	} `json:"attachments"`
}

// Notify posts the event as one message: a coloured attachment with the
// status line, the ref, the commit and the author.
func (s Slack) Notify(ctx context.Context, e Event) error {
	body, err := json.Marshal(slackPayload(e))
	if err != nil {
		return fmt.Errorf("%w: encoding Slack message: %w", ErrPermanent, err)
	}
	return request{client: s.Client, url: s.URL, body: body, secrets: []string{s.URL}}.post(ctx)
}

func slackPayload(e Event) slackMessage {
	project := slackEscape(e.Project.Name)
	if e.Project.URL != "" {
		project = "<" + e.Project.URL + "|" + project + ">"
	}
	title := slackEscape(e.title())
	if u := e.targetURL(); u != "" {
		title = "<" + u + "|" + title + ">"
	}
	headline := "*" + title + "* in " + project
	fields := []slackText{{Type: "mrkdwn", Text: "*" + map[bool]string{true: "Tag", false: "Branch"}[e.Tag] + "*\n`" + slackEscape(e.Ref) + "`"}}
	if e.SHA != "" {
		commit := "`" + shortSHA(e.SHA) + "`"
		if e.Commit.URL != "" {
			commit = "<" + e.Commit.URL + "|" + shortSHA(e.SHA) + ">"
		}
		if e.Commit.Title != "" {
			commit += " " + slackEscape(clip(e.Commit.Title, 100))
		}
		fields = append(fields, slackText{Type: "mrkdwn", Text: "*Commit*\n" + commit})
	}
	if e.Commit.Author != "" {
		fields = append(fields, slackText{Type: "mrkdwn", Text: "*Author*\n" + slackEscape(e.Commit.Author)})
	}
	if d := e.duration(); d > 0 {
		fields = append(fields, slackText{Type: "mrkdwn", Text: "*Duration*\n" + d.String()})
	}
	if e.MergeRequestIID != 0 {
		fields = append(fields, slackText{Type: "mrkdwn", Text: fmt.Sprintf("*Merge request*\n!%d", e.MergeRequestIID)})
	}
	if e.Detail != "" {
		fields = append(fields, slackText{Type: "mrkdwn", Text: "*Detail*\n" + slackEscape(clip(e.Detail, 500))})
	}
	msg := slackMessage{Text: fmt.Sprintf("%s in %s on %s", e.title(), e.Project.Name, e.Ref)}
	msg.Attachments = append(msg.Attachments, struct {
		Color  string       `json:"color"`
		Blocks []slackBlock `json:"blocks"`
	}{
		Color: slackColors[e.Status],
		Blocks: []slackBlock{
			{Type: "section", Text: &slackText{Type: "mrkdwn", Text: headline}},
			{Type: "section", Fields: fields},
			{Type: "context", Elements: []slackText{{Type: "mrkdwn", Text: "Slipway · " + string(e.Kind) + " " + string(e.Status)}}},
		},
	})
	return msg
}

// slackEscape escapes the three characters Slack's mrkdwn reserves.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func shortSHA(sha string) string {
	if len(sha) > 8 {
		return sha[:8]
	}
	return sha
}
