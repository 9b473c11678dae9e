package main

import (
	"io"
	"net/http"
	"os"

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
			const path = "/api/proxy/ca.crt"
			resp, err := c.send("GET", path, "", nil)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return c.failed("GET", path, resp)
			}
			body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			if err != nil {
				return err
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
