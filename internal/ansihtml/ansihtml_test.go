package ansihtml

import (
	"strings"
	"testing"
)

func TestLine(t *testing.T) {
	cases := map[string]string{
		"plain <b>&":                      "plain &lt;b&gt;&amp;",
		"\x1b[32mok\x1b[0m done":          `<span class="fg-green">ok</span> done`,
		"\x1b[1;31mERROR\x1b[0m: <x>":     `<span class="fg-red bold">ERROR</span>: &lt;x&gt;`,
		"\x1b[91mbright\x1b[39m plain":    `<span class="fg-bright-red">bright</span> plain`,
		"\x1b[38;5;208morange\x1b[m x":    `orange x`,
		"\x1b[2Kcleared":                  "cleared",
		"cut \x1b[3":                      "cut ",
		"\x1b[44;37mwhite on blue\x1b[0m": `<span class="fg-white bg-blue">white on blue</span>`,
	}
	for in, want := range cases {
		if got := Line(in); got != want {
			t.Errorf("Line(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzLine(f *testing.F) {
	f.Add("\x1b[1;31mERROR\x1b[0m <script>")
	f.Fuzz(func(t *testing.T, s string) {
		out := Line(s)
		if strings.Contains(out, "<script") {
			t.Fatalf("markup from the input reached the output: %q", out)
		}
		for i := 0; i < len(out); i++ {
			if out[i] == 0x1b {
				t.Fatalf("escape byte left in %q", out)
			}
		}
	})
}
