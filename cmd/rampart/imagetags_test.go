package main

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// imageName is the name `make image` gives rampart's image.
const imageName = "localhost/rampart"

// imageRef finds imageName with a tag (a Docker tag: up to 128 letters,
// digits, '_', '.' and '-', not starting with '.' or '-'); an empty tag is
// one that is not written out, such as ${TAG}.
var imageRef = regexp.MustCompile(regexp.QuoteMeta(imageName) + `:([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?`)

// imageRefs returns the tags of the references to imageName in text.
func imageRefs(text string) []string {
	var tags []string
	for _, m := range imageRef.FindAllStringSubmatch(text, -1) {
		tags = append(tags, m[1])
	}
	return tags
}

func TestImageRefs(t *testing.T) {
	for _, tc := range []struct {
		text string
		want []string
	}{
		{"image: " + imageName + ":latest\n", []string{"latest"}},
		{"image: ${RAMPART_IMAGE:-" + imageName + ":latest}", []string{"latest"}},
		{"-v data:/data " + imageName + ":v1.2.3-4-gabcdef0 \\", []string{"v1.2.3-4-gabcdef0"}},
		{"RAMPART_IMAGE=" + imageName + ":dev APP_IMAGE=x", []string{"dev"}},
		{`"` + imageName + `:container-test"`, []string{"container-test"}},
		{"-t " + imageName + ":$(VERSION)", []string{""}},
		{imageName + "-test-app:latest, " + imageName + " alone", nil},
	} {
		if got := imageRefs(tc.text); !slices.Equal(got, tc.want) {
			t.Errorf("imageRefs(%q) = %q; want %q", tc.text, got, tc.want)
		}
	}
}

// madeImageTags returns the tags `make -n image` gives imageName with
// VERSION set to version. Overrides the test may have inherited (a make
// running go test passes its command line on in MAKEFLAGS) are dropped.
func madeImageTags(t *testing.T, makeBin, version string) []string {
	t.Helper()
	c := exec.Command(makeBin, "-n", "image", "VERSION="+version, "ENGINE=podman")
	c.Dir = filepath.Join("..", "..")
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.Contains([]string{"MAKEFLAGS", "MFLAGS", "MAKEOVERRIDES", "MAKELEVEL", "IMAGE", "VERSION", "ENGINE"}, name) {
			c.Env = append(c.Env, kv)
		}
	}
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("make -n image: %v\n%s", err, out)
	}
	var tags []string
	for _, m := range regexp.MustCompile(`\s-t\s+(\S+)`).FindAllStringSubmatch(string(out), -1) {
		name, tag, _ := strings.Cut(m[1], ":")
		if name != imageName {
			t.Errorf("make image tags %s; want %s:TAG, the name the repository's files run", m[1], imageName)
		}
		tags = append(tags, tag)
	}
	return tags
}

// TestImageTagsAreBuilt: every imageName:TAG that a file of the repository
// names (the README's podman run, the compose file, the Kubernetes overlays)
// is a tag `make image` gives whatever the version, so the commands run the
// image it built. The tags the tests build themselves may appear in *_test.go
// files only.
func TestImageTagsAreBuilt(t *testing.T) {
	makeBin := requireTool(t, "make")
	gitBin := requireTool(t, "git")
	one, other := madeImageTags(t, makeBin, "v0.0.1-imagetags"), madeImageTags(t, makeBin, "v0.0.2-imagetags")
	if !slices.Contains(one, "v0.0.1-imagetags") {
		t.Errorf("make image VERSION=v0.0.1-imagetags tags %q; want the version among them", one)
	}
	var always []string // the tags that do not depend on the version
	for _, tag := range one {
		if slices.Contains(other, tag) {
			always = append(always, tag)
		}
	}
	testTag, ok := strings.CutPrefix(containerTestImage, imageName+":")
	if !ok {
		t.Fatalf("containerTestImage %q is not %s:TAG", containerTestImage, imageName)
	}

	// Tracked files and new ones not ignored: a reference is caught before
	// its file is committed.
	ls := exec.Command(gitBin, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	ls.Dir = filepath.Join("..", "..")
	out, err := ls.Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	files, refs := 0, 0
	for _, name := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		data, err := os.ReadFile(filepath.Join("..", "..", name))
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted in the working tree, not yet in the index
		} else if err != nil {
			t.Fatal(err)
		}
		if bytes.IndexByte(data, 0) >= 0 {
			continue // not text
		}
		files++
		for _, tag := range imageRefs(string(data)) {
			refs++
			switch {
			case tag == "":
				t.Errorf("%s: %s: with a tag not written out; want one of %q, which make image gives", name, imageName, always)
			case slices.Contains(always, tag):
			case tag == testTag && strings.HasSuffix(name, "_test.go"):
			default:
				t.Errorf("%s: %s:%s, a tag make image does not give; want one of %q", name, imageName, tag, always)
			}
		}
	}
	if refs == 0 {
		t.Fatalf("no reference to %s in %d files; the walk proves nothing", imageName, files)
	}
	t.Logf("make image tags %s with the version and %q; %d references in %d text files, each to one of those",
		imageName, always, refs, files)
}
