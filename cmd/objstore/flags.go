package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

// envPrefix starts the name of every flag's environment twin.
const envPrefix = "OBJSTORE_"

// envName returns the environment variable that stands in for a flag:
// "data-dir" → "OBJSTORE_DATA_DIR".
func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// envFlagSet is a flag.FlagSet whose every flag has an environment twin
// (see envName). A twin that is set and non-empty replaces the flag's
// default; a flag given on the command line wins over its twin.
//
// Define flags on the embedded FlagSet as usual, then call ParseEnv.
type envFlagSet struct {
	*flag.FlagSet
	synopsis string
	fromEnv  map[string]string // flag name → env var that set it, after ParseEnv
}

// newEnvFlagSet returns an empty set for the subcommand name. It returns
// errors rather than exiting, and its usage (printed for -h and for a bad
// flag) starts with synopsis and lists every flag with its twin and
// default.
func newEnvFlagSet(name, synopsis string) *envFlagSet {
	fs := &envFlagSet{
		FlagSet:  flag.NewFlagSet(name, flag.ContinueOnError),
		synopsis: synopsis,
		fromEnv:  make(map[string]string),
	}
	fs.Usage = func() { fs.printUsage(fs.Output()) }
	return fs
}

// ParseEnv parses args, then sets every flag that args did not from its
// environment twin as getenv reports it (nil getenv means an empty
// environment; an empty value counts as unset). It returns flag.ErrHelp
// for -h or --help, after printing the usage.
//
// Twins are read after args so that an invalid twin of a flag the command
// line overrides does no harm.
func (fs *envFlagSet) ParseEnv(args []string, getenv func(string) string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if getenv == nil {
		return nil
	}
	given := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })

	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] {
			return
		}
		env := envName(f.Name)
		v := getenv(env)
		if v == "" {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			errs = append(errs, fmt.Errorf("invalid value %q for %s (--%s): %w", v, env, f.Name, err))
			return
		}
		fs.fromEnv[f.Name] = env
	})
	return errors.Join(errs...)
}

// invalid reports that flag name's value is wrong for reason err, which
// should quote the value. The error names the flag, and also its
// environment twin when that is where the value came from.
func (fs *envFlagSet) invalid(name string, err error) error {
	if env, ok := fs.fromEnv[name]; ok {
		return fmt.Errorf("%s (--%s): %w", env, name, err)
	}
	return fmt.Errorf("--%s: %w", name, err)
}

// printUsage writes the synopsis and every flag, sorted by name, as
//
//	--name type   env OBJSTORE_NAME, default "x"
//	        description
func (fs *envFlagSet) printUsage(w io.Writer) {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: %s\n", fs.synopsis)
	var flags []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) { flags = append(flags, f) })
	sort.Slice(flags, func(i, j int) bool { return flags[i].Name < flags[j].Name })
	if len(flags) > 0 {
		fmt.Fprintf(&b, "\nFlags (each may be set through its environment variable instead;\na flag given on the command line wins):\n")
	}
	heads := make([]string, len(flags))
	width := 0
	for i, f := range flags {
		heads[i] = "--" + f.Name
		if typ, _ := flag.UnquoteUsage(f); typ != "" {
			heads[i] += " " + typ
		}
		width = max(width, len(heads[i]))
	}
	for i, f := range flags {
		_, usage := flag.UnquoteUsage(f)
		fmt.Fprintf(&b, "  %-*s  env %s", width, heads[i], envName(f.Name))
		if f.DefValue != "" {
			def := f.DefValue
			if g, ok := f.Value.(flag.Getter); ok {
				if _, isString := g.Get().(string); isString {
					def = fmt.Sprintf("%q", def)
				}
			}
			fmt.Fprintf(&b, ", default %s", def)
		}
		fmt.Fprintf(&b, "\n        %s\n", strings.ReplaceAll(usage, "\n", "\n        "))
	}
	// A failed write of usage text leaves nothing better to do.
	_, _ = io.WriteString(w, b.String())
}
