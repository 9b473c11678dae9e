package lint

import (
	"slices"
	"strings"
	"testing"
)

// ruleCases holds, for each rule, a Dockerfile that breaks it and a close
// one that does not.
var ruleCases = []struct {
	rule, bad, good string
}{
	{"DL3000", "FROM a:1\nWORKDIR app\n", "FROM a:1\nWORKDIR /app\nWORKDIR $HOME/x\nWORKDIR \"/q\"\nWORKDIR C:\\\\w\n"},
	{"DL3001", "FROM a:1\nRUN service nginx start\n", "FROM a:1\nRUN echo service\n"},
	{"DL3002", "FROM a:1\nUSER app\nUSER root\n", "FROM a:1\nUSER root\nRUN x\nUSER app\n"},
	{"DL3003", "FROM a:1\nRUN cd /tmp && make\n", "FROM a:1\nWORKDIR /tmp\nRUN make\n"},
	{"DL3004", "FROM a:1\nRUN sudo make install\n", "FROM a:1\nRUN make install\n"},
	{"DL3006", "FROM debian\n", "FROM debian:12\nFROM debian@sha256:abc\nFROM scratch\nFROM debian:12 AS base\nFROM base\nFROM $IMG\n"},
	{"DL3007", "FROM debian:latest\n", "FROM debian:12\nFROM debian:latest@sha256:abc\n"},
	{"DL3008", "FROM a:1\nRUN apt-get install -y --no-install-recommends curl=7.1 git\n", "FROM a:1\nRUN apt-get install -y --no-install-recommends -t bookworm-backports curl=7.1 ./x.deb\n"},
	{"DL3009", "FROM a:1\nRUN apt-get update && apt-get install -y --no-install-recommends x=1\n", "FROM a:1\nRUN apt-get update && apt-get install -y --no-install-recommends x=1 && rm -rf /var/lib/apt/lists/*\n"},
	{"DL3009", "FROM a:1 AS base\nRUN apt-get update\nFROM base\n", "FROM a:1 AS build\nRUN apt-get update\nFROM b:1\nCOPY --from=build /x /x\n"},
	{"DL3009", "FROM a:1\nRUN apt-get update\n", "FROM a:1\nRUN --mount=type=cache,target=/var/lib/apt/lists apt-get update\n"},
	{"DL3011", "FROM a:1\nEXPOSE 80 70000\n", "FROM a:1\nEXPOSE 80/tcp 65535 8000-8080 $PORT\n"},
	{"DL3012", "FROM a:1\nHEALTHCHECK CMD a\nHEALTHCHECK CMD b\n", "FROM a:1 AS x\nHEALTHCHECK CMD a\nFROM b:1\nHEALTHCHECK CMD b\n"},
	{"DL3013", "FROM a:1\nRUN pip install --no-cache-dir flask\n", "FROM a:1\nRUN pip install --no-cache-dir flask==2.0 'b>=1' ./pkg.whl -r req.txt\nRUN pip3 install --no-cache-dir -r requirements.txt\nRUN pip install --no-cache-dir .\n"},
	{"DL3013", "FROM a:1\nRUN python3 -m pip install --no-cache-dir requests\n", "FROM a:1\nRUN python3 -m pip install --no-cache-dir requests==2.31.0\n"},
	{"DL3014", "FROM a:1\nRUN apt-get install --no-install-recommends x=1\n", "FROM a:1\nRUN apt-get -y install --no-install-recommends x=1\nRUN apt-get install --yes --no-install-recommends x=1\n"},
	{"DL3015", "FROM a:1\nRUN apt-get install -y x=1\n", "FROM a:1\nRUN apt-get install -y --no-install-recommends x=1\nRUN apt-get -o APT::Install-Recommends=false install -y x=1\n"},
	{"DL3016", "FROM a:1\nRUN npm install express\n", "FROM a:1\nRUN npm install express@4.18.2 @types/node@20 ./local git+https://x/y.git#v1\nRUN npm install\n"},
	{"DL3016", "FROM a:1\nRUN npm install @scope/pkg\n", "FROM a:1\nRUN npm install @scope/pkg@1.0.0\n"},
	{"DL3018", "FROM a:1\nRUN apk add --no-cache curl\n", "FROM a:1\nRUN apk add --no-cache curl=8.5.0-r0 'git~2.43' --virtual .build-deps x.apk\n"},
	{"DL3019", "FROM a:1\nRUN apk add curl=8.5.0-r0\n", "FROM a:1\nRUN apk add --no-cache curl=8.5.0-r0\n"},
	{"DL3020", "FROM a:1\nADD app.py /app/\n", "FROM a:1\nADD https://x/y.txt /y\nADD rootfs.tar.xz /\nCOPY app.py /app/\n"},
	{"DL3021", "FROM a:1\nCOPY a b /dest\n", "FROM a:1\nCOPY a b /dest/\nCOPY a /dest\n"},
	{"DL3022", "FROM a:1\nCOPY --from=build /x /x\n", "FROM a:1 AS build\nFROM b:1\nCOPY --from=build /x /x\nCOPY --from=0 /y /y\nCOPY --from=nginx:1.25 /etc/nginx /etc/nginx\n"},
	{"DL3023", "FROM a:1 AS build\nCOPY --from=build /x /x\n", "FROM a:1 AS build\nFROM b:1 AS final\nCOPY --from=build /x /x\n"},
	{"DL3024", "FROM a:1 AS x\nFROM b:1 AS X\n", "FROM a:1 AS x\nFROM b:1 AS y\n"},
	{"DL3025", "FROM a:1\nCMD node server.js\n", "FROM a:1\nCMD [\"node\", \"server.js\"]\nENTRYPOINT [\"/init\"]\n"},
	{"DL3025", "FROM a:1\nENTRYPOINT /init\n", "FROM a:1\nENTRYPOINT [\"/init\"]\n"},
	{"DL3027", "FROM a:1\nRUN apt install -y curl\n", "FROM a:1\nRUN apt-cache policy curl\n"},
	{"DL3028", "FROM a:1\nRUN gem install bundler\n", "FROM a:1\nRUN gem install bundler:2.4.0\nRUN gem install rails -v 7.1\n"},
	{"DL3029", "FROM --platform=linux/amd64 a:1\n", "FROM --platform=$BUILDPLATFORM a:1\nFROM b:1\n"},
	{"DL3030", "FROM a:1\nRUN yum install httpd-2.4.6 && yum clean all\n", "FROM a:1\nRUN yum install -y httpd-2.4.6 && yum clean all\n"},
	{"DL3032", "FROM a:1\nRUN yum install -y httpd-2.4.6\n", "FROM a:1\nRUN yum install -y httpd-2.4.6 && yum clean all\n"},
	{"DL3033", "FROM a:1\nRUN yum install -y httpd && yum clean all\n", "FROM a:1\nRUN yum install -y httpd-2.4.6 x.rpm && yum clean all\n"},
	{"DL3034", "FROM a:1\nRUN zypper install httpd=2.4 && zypper clean\n", "FROM a:1\nRUN zypper -n install httpd=2.4 && zypper clean\nRUN zypper install -y httpd=2.4 && zypper clean\n"},
	{"DL3035", "FROM a:1\nRUN zypper dist-upgrade -y\n", "FROM a:1\nRUN zypper update -y\n"},
	{"DL3036", "FROM a:1\nRUN zypper install -y httpd=2.4\n", "FROM a:1\nRUN zypper install -y httpd=2.4 && zypper clean\n"},
	{"DL3037", "FROM a:1\nRUN zypper install -y httpd && zypper clean\n", "FROM a:1\nRUN zypper install -y 'httpd>=2.4' && zypper clean\n"},
	{"DL3038", "FROM a:1\nRUN dnf install httpd-2.4.6 && dnf clean all\n", "FROM a:1\nRUN dnf install -y httpd-2.4.6 && dnf clean all\n"},
	{"DL3040", "FROM a:1\nRUN dnf install -y httpd-2.4.6\n", "FROM a:1\nRUN dnf install -y httpd-2.4.6 && dnf clean all\n"},
	{"DL3041", "FROM a:1\nRUN microdnf install -y httpd && microdnf clean all\n", "FROM a:1\nRUN dnf install -y httpd-2.4.6 && dnf clean all\n"},
	{"DL3042", "FROM a:1\nRUN pip install flask==2.0\n", "FROM a:1\nRUN pip install --no-cache-dir flask==2.0\nRUN PIP_NO_CACHE_DIR=1 pip install flask==2.0\n"},
	{"DL3042", "FROM a:1 AS x\nENV PIP_NO_CACHE_DIR=1\nFROM b:1\nRUN pip install flask==2.0\n", "FROM a:1 AS x\nENV PIP_NO_CACHE_DIR=1\nFROM x\nRUN pip install flask==2.0\n"},
	{"DL3043", "FROM a:1\nONBUILD FROM b:1\n", "FROM a:1\nONBUILD RUN make\n"},
	{"DL3044", "FROM a:1\nENV A=/x B=$A/bin\n", "FROM a:1\nENV A=/x\nENV B=$A/bin C=${PATH}\n"},
	{"DL3045", "FROM a:1\nCOPY app.py app/\n", "FROM a:1\nCOPY app.py /app/\nWORKDIR /app\nCOPY x.py .\n"},
	{"DL3045", "FROM a:1 AS base\nFROM b:1\nCOPY x .\n", "FROM a:1 AS base\nWORKDIR /src\nFROM base\nCOPY x .\n"},
	{"DL3046", "FROM a:1\nRUN useradd -u 123456 app\n", "FROM a:1\nRUN useradd -l -u 123456 app\nRUN useradd -u 1000 app\n"},
	{"DL3047", "FROM a:1\nRUN wget http://x/y\n", "FROM a:1\nRUN wget --progress=dot:giga http://x/y\nRUN wget -nv http://x/y\nRUN wget -qO- http://x/y\n"},
	{"DL3048", "FROM a:1\nLABEL org.example.ok=1 Maintainer=me\n", "FROM a:1\nLABEL org.opencontainers.image.version=1.0 \"a-b\"=2\nLABEL x y\n"},
	{"DL3048", "FROM a:1\nLABEL com.docker.thing=1\n", "FROM a:1\nLABEL com.example.thing=1\n"},
	{"DL3059", "FROM a:1\nRUN a\nRUN b\n", "FROM a:1\nRUN a && b\nRUN --mount=type=cache,target=/c c\nWORKDIR /\nRUN d\n"},
	{"DL3060", "FROM a:1\nRUN yarn install\n", "FROM a:1\nRUN yarn install && yarn cache clean\n"},
	{"DL3061", "LABEL a=b\nFROM a:1\n", "ARG V=1\nFROM a:$V\n"},
	{"DL3062", "FROM a:1\nRUN go install example.com/tool\n", "FROM a:1\nRUN go install example.com/tool@v1.2.3\n"},
	{"DL4000", "FROM a:1\nMAINTAINER me\n", "FROM a:1\nLABEL maintainer=me\n"},
	{"DL4001", "FROM a:1\nRUN wget -q http://x\nRUN curl http://y\n", "FROM a:1 AS x\nRUN wget -q http://x\nFROM b:1\nRUN curl http://y\n"},
	{"DL4003", "FROM a:1\nCMD [\"a\"]\nCMD [\"b\"]\n", "FROM a:1 AS x\nCMD [\"a\"]\nFROM b:1\nCMD [\"b\"]\n"},
	{"DL4004", "FROM a:1\nENTRYPOINT [\"a\"]\nENTRYPOINT [\"b\"]\n", "FROM a:1\nENTRYPOINT [\"a\"]\nCMD [\"b\"]\n"},
	{"DL4005", "FROM a:1\nRUN ln -sf /bin/bash /bin/sh\n", "FROM a:1\nSHELL [\"/bin/bash\", \"-c\"]\n"},
	{"DL4006", "FROM a:1\nRUN curl -s x | sh\n", "FROM a:1\nSHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"]\nRUN curl -s x | sh\n"},
	{"DL4006", "FROM a:1\nSHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"]\nFROM b:1\nRUN a | b\n", "FROM a:1\nRUN a || b\n"},
}

func ruleIDs(t *testing.T, src string, cfg Config) []string {
	t.Helper()
	findings, err := Source("Dockerfile", strings.NewReader(src), cfg)
	if err != nil {
		t.Fatalf("lint %q: %v", src, err)
	}
	var ids []string
	for _, f := range findings {
		ids = append(ids, f.Rule)
	}
	return ids
}

func TestRules(t *testing.T) {
	cfg := Config{TrustedRegistries: []string{"docker.io"}}
	for _, c := range ruleCases {
		t.Run(c.rule, func(t *testing.T) {
			if ids := ruleIDs(t, c.bad, cfg); !slices.Contains(ids, c.rule) {
				t.Errorf("%s not reported for\n%s\ngot %v", c.rule, c.bad, ids)
			}
			if ids := ruleIDs(t, c.good, cfg); slices.Contains(ids, c.rule) {
				t.Errorf("%s wrongly reported for\n%s", c.rule, c.good)
			}
		})
	}
}

func TestEveryRuleHasCases(t *testing.T) {
	covered := map[string]bool{}
	for _, c := range ruleCases {
		covered[c.rule] = true
	}
	covered["DL3026"] = true // TestTrustedRegistries
	for _, r := range Rules() {
		if !covered[r.ID] {
			t.Errorf("rule %s has no test case", r.ID)
		}
	}
	if n := len(Rules()); n < 25 {
		t.Errorf("%d rules, want at least 25", n)
	}
}

func TestTrustedRegistries(t *testing.T) {
	src := "FROM quay.io/app/x:1\nFROM registry.internal:5000/y:2\nFROM debian:12\nFROM gcr.example.com/z:1\n"
	findings, err := Source("Dockerfile", strings.NewReader(src), Config{TrustedRegistries: []string{"docker.io", "registry.internal:5000", "*.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	var lines []int
	for _, f := range findings {
		if f.Rule == "DL3026" {
			lines = append(lines, f.Line)
		}
	}
	if !slices.Equal(lines, []int{1}) {
		t.Errorf("DL3026 at lines %v, want [1] (quay.io only)", lines)
	}
	if ids := ruleIDs(t, src, Config{}); slices.Contains(ids, "DL3026") {
		t.Error("DL3026 reported with no trusted registries configured")
	}
}

func TestFindingLinesAndSeverity(t *testing.T) {
	src := "FROM debian:12\n\n# install\nRUN apt-get update \\\n    && apt-get install -y curl\n"
	findings, err := Source("gen/Dockerfile.prepared", strings.NewReader(src), Config{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Finding{}
	for _, f := range findings {
		got[f.Rule] = f
	}
	f, ok := got["DL3008"]
	if !ok || f.Line != 4 || f.Severity != SeverityWarning || f.File != "gen/Dockerfile.prepared" {
		t.Errorf("DL3008 finding = %+v, want line 4, warning, file gen/Dockerfile.prepared", f)
	}
	if f := got["DL3009"]; f.Severity != SeverityInfo {
		t.Errorf("DL3009 severity = %v, want info", f.Severity)
	}
}

func TestRunForms(t *testing.T) {
	cases := []struct {
		name, src string
		want      bool
	}{
		{"exec form", "FROM a:1\nRUN [\"apt-get\", \"install\", \"-y\", \"curl\"]\n", true},
		{"heredoc script", "FROM a:1\nRUN <<EOF\nset -e\napt-get install -y curl\nEOF\n", true},
		{"heredoc as input", "FROM a:1\nRUN cat > /etc/x <<EOF\napt-get install -y curl\nEOF\n", false},
		{"subshell", "FROM a:1\nRUN (true && apt-get install -y curl)\n", true},
		{"command substitution", "FROM a:1\nRUN echo $(apt-get install -y curl)\n", true},
		{"quoted word", "FROM a:1\nRUN echo 'apt-get install -y curl'\n", false},
		{"unparsable shell", "FROM a:1\nRUN apt-get install -y curl && if then fi (\n", true},
		{"onbuild trigger", "FROM a:1\nONBUILD RUN apt-get install -y curl\n", true},
		{"continuation lines", "FROM a:1\nRUN apt-get install \\\n  -y \\\n  curl\n", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := slices.Contains(ruleIDs(t, c.src, Config{}), "DL3008"); got != c.want {
				t.Errorf("DL3008 reported = %v, want %v", got, c.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct{ src, want string }{
		{"FROM a:1\nFORM b\n", "Dockerfile:2:1: unknown instruction \"FORM\""},
		{"# only a comment\n", "Dockerfile:"},
		{"FROM a:1\nRUN <<EOF\necho\n", "Dockerfile:2:"},
	}
	for _, c := range cases {
		_, err := Source("Dockerfile", strings.NewReader(c.src), Config{})
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("Source(%q) error = %v, want prefix %q", c.src, err, c.want)
		}
	}
}
