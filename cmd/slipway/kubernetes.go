package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/slipway-cd/slipway/internal/executor/kubernetes"
	"github.com/slipway-cd/slipway/internal/executor/kubernetes/helper"
)

func init() {
	// What the helper container of a Kubernetes job's pod runs.
	rootCmd.AddCommand(&cobra.Command{
		Use:                helper.Command + " pause|untar DIR|tar DIR",
		Short:              "The helper of Kubernetes jobs' pods (run by the Kubernetes executor)",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if code := helper.Main(args, cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr()); code != 0 {
				return exitError{code: code}
			}
			return nil
		},
	})

	kube := &cobra.Command{Use: "kubernetes", Short: "The Kubernetes executor's tools"}
	var output string
	image := &cobra.Command{
		Use:   "helper-image --output FILE",
		Short: "Write the helper image of this slipway binary (a docker save archive) and print its tag",
		Long: "The Kubernetes executor's pods run a helper container of this very binary, which must be\n" +
			"static (built with CGO_ENABLED=0). Load the archive onto the nodes (ctr -n k8s.io images import FILE)\n" +
			"or push it to a registry they pull from, and set kubernetes.helper_image to the printed tag.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			self, err := os.Executable()
			if err != nil {
				return err
			}
			f, err := os.Create(output)
			if err != nil {
				return err
			}
			tag, err := helper.WriteImage(f, self)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				os.Remove(output)
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), tag)
			return nil
		},
	}
	image.Flags().StringVarP(&output, "output", "o", "", "archive to write (required)")
	_ = image.MarkFlagRequired("output")
	kube.AddCommand(image)
	rootCmd.AddCommand(kube)
}

// kubeFlags are the command line's Kubernetes executor settings, over the
// `kubernetes:` section of the config file.
type kubeFlags struct {
	kubeconfig, context, namespace, helperImage string
}

func (k *kubeFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&k.kubeconfig, "kubeconfig", "", "kubernetes executor: kubeconfig `FILE` (default: KUBECONFIG, ~/.kube/config)")
	fl.StringVar(&k.context, "kube-context", "", "kubernetes executor: the kubeconfig's context (default: its current one)")
	fl.StringVar(&k.namespace, "kube-namespace", "", "kubernetes executor: namespace of the jobs' pods (default: the context's)")
	fl.StringVar(&k.helperImage, "kube-helper-image", "", "kubernetes executor: helper image (see slipway kubernetes helper-image)")
}

// options are the executor's options: the config file's, with the flags
// given over them; nil (no cluster configured) when neither says anything
// and need is false.
func (k *kubeFlags) options(fl *pflag.FlagSet, file *kubernetes.Options, need bool) *kubernetes.Options {
	var o kubernetes.Options
	if file != nil {
		o = *file
	}
	given := false
	set := func(flag string, dst *string, v string) {
		if fl.Changed(flag) {
			*dst, given = v, true
		}
	}
	set("kubeconfig", &o.Kubeconfig, k.kubeconfig)
	set("kube-context", &o.Context, k.context)
	set("kube-namespace", &o.Namespace, k.namespace)
	set("kube-helper-image", &o.HelperImage, k.helperImage)
	if file == nil && !given && !need {
		return nil
	}
	return &o
}
