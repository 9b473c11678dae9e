package helper

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"runtime"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// BinaryPath is where the slipway binary is in the helper image.
const BinaryPath = "/slipway"

// DefaultRepository names helper images that WriteImage tags.
const DefaultRepository = "slipway.local/slipway-helper"

// Image is the helper image of a slipway binary: that one file on an empty
// filesystem, so the binary must be static (CGO_ENABLED=0). Its tag is
// DefaultRepository and the start of the binary's SHA-256, so that each
// build of slipway has its own helper and nodes never run a stale one.
func Image(binary string) (v1.Image, name.Tag, error) {
	data, err := os.ReadFile(binary)
	if err != nil {
		return nil, name.Tag{}, fmt.Errorf("helper image: %w", err)
	}
	if err := checkStatic(binary, data); err != nil {
		return nil, name.Tag{}, err
	}
	sum := sha256.Sum256(data)
	tag, err := name.NewTag(DefaultRepository + ":" + hex.EncodeToString(sum[:])[:16])
	if err != nil {
		return nil, name.Tag{}, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: BinaryPath[1:], Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
		return nil, name.Tag{}, err
	}
	if _, err := tw.Write(data); err != nil {
		return nil, name.Tag{}, err
	}
	if err := tw.Close(); err != nil {
		return nil, name.Tag{}, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(buf.Bytes())), nil
	})
	if err != nil {
		return nil, name.Tag{}, err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, name.Tag{}, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, name.Tag{}, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	cf.Config.Entrypoint = []string{BinaryPath, Command}
	cf.Config.Cmd = []string{"pause"}
	img, err = mutate.ConfigFile(img, cf)
	return img, tag, err
}

// WriteImage writes the helper image of binary as a `docker save` archive,
// which `ctr images import` and `docker load` read, and returns its tag.
func WriteImage(w io.Writer, binary string) (string, error) {
	img, tag, err := Image(binary)
	if err != nil {
		return "", err
	}
	if err := tarball.Write(tag, img, w); err != nil {
		return "", fmt.Errorf("helper image: %w", err)
	}
	return tag.String(), nil
}

// checkStatic refuses a dynamically linked binary: on the image's empty
// filesystem its loader is missing, and every pod would fail to start with
// an obscure "no such file or directory".
func checkStatic(binary string, data []byte) error {
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return nil // not ELF: nothing to tell
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("helper image: %s is dynamically linked, so it cannot run in the helper image (a single file): build slipway with CGO_ENABLED=0", binary)
		}
	}
	return nil
}
