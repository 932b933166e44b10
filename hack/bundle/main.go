// Command bundle generates the OLM bundle (bundle/, bundle.Dockerfile) from config/ and checks it
// with the validators `operator-sdk bundle validate` runs; operator-sdk itself is not a dependency.
//
//	go run ./hack/bundle -version 0.1.0 -image ghcr.io/heimdall-io/heimdall-operator:v0.1.0
//	go run ./hack/bundle -validate-only
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bundle:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("bundle", flag.ContinueOnError)
	opts := DefaultOptions()
	fs.StringVar(&opts.Root, "root", ".", "Repository root (holds config/ and bundle/).")
	fs.StringVar(&opts.Version, "version", "", "Bundle version (semver, without a leading v). Required unless -validate-only.")
	fs.StringVar(&opts.Image, "image", "", "Operator image; default <manager image repository>:v<version>.")
	fs.StringVar(&opts.Channels, "channels", opts.Channels, "Comma-separated channels of the bundle.")
	fs.StringVar(&opts.DefaultChannel, "default-channel", opts.DefaultChannel, "Default channel of the package.")
	validateOnly := fs.Bool("validate-only", false, "Only validate the committed bundle.")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !*validateOnly {
		files, err := Generate(opts)
		if err != nil {
			return err
		}
		if err := WriteFiles(opts.Root, files); err != nil {
			return err
		}
	}
	errs, warnings := Validate(opts.Root)
	for _, w := range warnings {
		fmt.Fprintln(os.Stderr, "bundle: warning:", w)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	fmt.Println("bundle: valid")
	return nil
}
