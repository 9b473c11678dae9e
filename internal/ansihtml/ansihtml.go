// Package ansihtml renders terminal output with ANSI colour codes (SGR
// sequences) as HTML, escaping everything else, for job logs in the UI.
package ansihtml

import (
	"html"
	"strconv"
	"strings"
)

// style is the SGR state that matters for display.
type style struct {
	fg, bg          string // class suffixes: "red", "bright-green", or "" for default
	bold, italic, u bool
}

func (s style) classes() string {
	var c []string
	if s.fg != "" {
		c = append(c, "fg-"+s.fg)
	}
	if s.bg != "" {
		c = append(c, "bg-"+s.bg)
	}
	if s.bold {
		c = append(c, "bold")
	}
	if s.italic {
		c = append(c, "italic")
	}
	if s.u {
		c = append(c, "underline")
	}
	return strings.Join(c, " ")
}

var colours = []string{"black", "red", "green", "yellow", "blue", "magenta", "cyan", "white"}

// Line renders one line of output as HTML: coloured runs become
// <span class="fg-red bold">…</span>; other escape sequences are dropped.
func Line(s string) string {
	var b strings.Builder
	var cur style
	flush := func(text string) {
		if text == "" {
			return
		}
		if cls := cur.classes(); cls != "" {
			b.WriteString(`<span class="` + cls + `">` + html.EscapeString(text) + `</span>`)
		} else {
			b.WriteString(html.EscapeString(text))
		}
	}
	for {
		i := strings.IndexByte(s, 0x1b)
		if i < 0 {
			flush(s)
			break
		}
		flush(s[:i])
		s = s[i:]
		if len(s) < 2 || s[1] != '[' {
			s = s[1:] // a lone ESC: drop it
			continue
		}
		// CSI: parameters, then a final byte in 0x40-0x7e.
		j := 2
		for j < len(s) && (s[j] < 0x40 || s[j] > 0x7e) {
			j++
		}
		if j == len(s) {
			break // truncated sequence at the end of the line
		}
		if s[j] == 'm' {
			cur = apply(cur, s[2:j])
		}
		s = s[j+1:]
	}
	return b.String()
}

// apply changes the style by the parameters of one SGR sequence.
func apply(st style, params string) style {
	if params == "" {
		return style{}
	}
	codes := strings.Split(params, ";")
	for k := 0; k < len(codes); k++ {
		n, err := strconv.Atoi(codes[k])
		if err != nil {
			continue
		}
		switch {
		case n == 0:
			st = style{}
		case n == 1:
			st.bold = true
		case n == 3:
			st.italic = true
		case n == 4:
			st.u = true
		case n == 22:
			st.bold = false
		case n == 23:
			st.italic = false
		case n == 24:
			st.u = false
		case n >= 30 && n <= 37:
			st.fg = colours[n-30]
		case n == 39:
			st.fg = ""
		case n >= 40 && n <= 47:
			st.bg = colours[n-40]
		case n == 49:
			st.bg = ""
		case n >= 90 && n <= 97:
			st.fg = "bright-" + colours[n-90]
		case n >= 100 && n <= 107:
			st.bg = "bright-" + colours[n-100]
		case n == 38 || n == 48:
			// 256-colour and true-colour forms: skip their arguments.
			if k+1 < len(codes) && codes[k+1] == "5" {
				k += 2
			} else if k+1 < len(codes) && codes[k+1] == "2" {
				k += 4
			}
		}
	}
	return st
}
