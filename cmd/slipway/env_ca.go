package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// envCACmd prints the review proxy's local CA, for browsers to trust the
// HTTPS review URLs whose hostnames cannot get a public certificate.
func envCACmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "ca",
		Short: "Print the review proxy's CA certificate (PEM), to trust its HTTPS review URLs",
		Long: "Print the certificate of the local CA with which the server's embedded proxy signs the HTTPS\n" +
			"certificates of review hostnames that cannot get a public one (proxy.embedded.https). Import it in\n" +
			"a browser (Settings, Certificates, Authorities) or give it to a client (curl --cacert FILE).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c := newAPIClient(cmd)
			resp, err := http.Get(c.base + "/api/proxy/ca.crt")
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			if err != nil {
				return err
			}
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("the proxy's CA: %s: %s", resp.Status, strings.TrimSpace(string(body)))
			}
			if output == "" || output == "-" {
				_, err = cmd.OutOrStdout().Write(body)
				return err
			}
			return os.WriteFile(output, body, 0o644)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "write it to this file instead of standard output")
	return cmd
}
