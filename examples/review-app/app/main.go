// Command app is the example review app: a page that shows the branch it
// was deployed from, read from the reviewEnv.json Slipway writes into its
// container, and the address of its signaling server.
package main

import (
	"encoding/json"
	"fmt"
	"html/template"
	"log"
	"net/http"
	"os"
)

// reviewEnv is the file the deploy injects (x-slipway files in compose.yaml).
type reviewEnv struct {
	ReviewBranch string `json:"reviewBranch"`
}

var page = template.Must(template.New("page").Parse(`<!doctype html>
<title>review app</title>
<h1>Branch {{.Branch}}</h1>
<p>Signaling server: <a href="{{.Signaling}}">{{.Signaling}}</a></p>
`))

// handler serves the page, /api/branch and /healthz. The file is read on
// every request, so a redeploy with new content needs no restart logic.
func handler(envFile, signaling string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	read := func() (reviewEnv, error) {
		var env reviewEnv
		b, err := os.ReadFile(envFile)
		if err != nil {
			return env, err
		}
		if err := json.Unmarshal(b, &env); err != nil {
			return env, fmt.Errorf("%s: %w", envFile, err)
		}
		return env, nil
	}
	mux.HandleFunc("GET /api/branch", func(w http.ResponseWriter, _ *http.Request) {
		env, err := read()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, env.ReviewBranch)
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		env, err := read()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = page.Execute(w, struct{ Branch, Signaling string }{env.ReviewBranch, signaling})
	})
	return mux
}

func main() {
	addr := getenv("LISTEN", ":8080")
	h := handler(getenv("REVIEW_ENV_FILE", "/config/reviewEnv.json"), os.Getenv("SIGNALING_URL"))
	log.Printf("app listening on %s", addr)
	log.Fatal(http.ListenAndServe(addr, h))
}

func getenv(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
