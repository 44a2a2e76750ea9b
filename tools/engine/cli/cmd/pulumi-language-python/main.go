// Command pulumi-language-python is sessionstack's own Python language host for the Pulumi CLI.
//
// Why it exists: upstream's host (module github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3)
// has no version tags and the module proxy this project can reach serves none of its versions, so it
// cannot be built here. This host implements the same gRPC LanguageRuntime service for what the
// project uses (preview/up/destroy of a Python program in a virtualenv, Python policy packs) and runs
// the unmodified `pulumi-language-python-exec` driver shipped in the pulumi sdk/v3 module, which the
// build script copies next to this binary. Everything it does not support answers Unimplemented.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// version is set by tools/engine/build.sh with -ldflags "-X main.version=...".
var version = "0.0.0-dev"

// execScriptName is the upstream driver that configures the Pulumi Python SDK and runs the program.
const execScriptName = "pulumi-language-python-exec"

// userActionableExit is the exit code the driver uses after it already showed the error to the user.
const userActionableExit = 32

func main() {
	// The engine passes logging/tracing flags before the engine address; accept and ignore what we
	// do not use rather than failing on an unknown flag.
	flags := flag.NewFlagSet("pulumi-language-python", flag.ContinueOnError)
	tracing := flags.String("tracing", "", "Zipkin-compatible tracing endpoint")
	flags.Bool("logtostderr", false, "ignored")
	flags.Bool("logflow", false, "ignored")
	flags.Int("v", 0, "ignored")
	flags.String("root", "", "ignored")
	if err := flags.Parse(os.Args[1:]); err != nil {
		fatalf("%v", err)
	}
	engineAddress := ""
	if flags.NArg() > 0 {
		engineAddress = flags.Arg(0)
	}

	exe, err := os.Executable()
	if err != nil {
		fatalf("locating own executable: %v", err)
	}
	if resolved, err := filepath.EvalSymlinks(exe); err == nil {
		exe = resolved
	}
	host := &pythonHost{
		engineAddress: engineAddress,
		tracing:       *tracing,
		execScript:    filepath.Join(filepath.Dir(exe), execScriptName),
	}

	cancel := make(chan bool)
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: cancel,
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, host)
			return nil
		},
		Options: rpcutil.OpenTracingServerInterceptorOptions(nil),
	})
	if err != nil {
		fatalf("starting gRPC server: %v", err)
	}
	// The engine reads the port from the first line of stdout.
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		fatalf("gRPC server: %v", err)
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "pulumi-language-python: "+format+"\n", args...)
	os.Exit(1)
}

type pythonHost struct {
	pulumirpc.UnimplementedLanguageRuntimeServer

	mu            sync.Mutex
	engineAddress string
	tracing       string
	execScript    string
}

func (h *pythonHost) Handshake(
	_ context.Context, req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if req.GetEngineAddress() != "" {
		h.engineAddress = req.GetEngineAddress()
	}
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *pythonHost) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

// interpreter is the Python to run for a program (or plugin) and the environment that selects it.
type interpreter struct {
	python     string
	virtualenv string // absolute; empty when the program uses the python on PATH
}

// interpreterFor reads the runtime options of Pulumi.yaml / PulumiPolicy.yaml. Only the virtualenv
// option (and none) is supported; the toolchain option (uv, poetry) is refused by name.
func interpreterFor(info *pulumirpc.ProgramInfo) (interpreter, error) {
	opts := info.GetOptions().AsMap()
	if tc, ok := opts["toolchain"].(string); ok && tc != "" && tc != "pip" {
		return interpreter{}, fmt.Errorf("runtime option toolchain=%q is not supported by this language host "+
			"(only pip with a virtualenv)", tc)
	}
	if venv, ok := opts["virtualenv"].(string); ok && venv != "" {
		if !filepath.IsAbs(venv) {
			venv = filepath.Join(info.GetRootDirectory(), venv)
		}
		python := filepath.Join(venv, "bin", "python")
		if _, err := os.Stat(python); err != nil {
			return interpreter{}, fmt.Errorf("the virtualenv %s has no bin/python; create it first "+
				"(python3 -m venv %s && %s/bin/pip install -r requirements.txt)", venv, venv, venv)
		}
		return interpreter{python: python, virtualenv: venv}, nil
	}
	if cmd := os.Getenv("PULUMI_PYTHON_CMD"); cmd != "" {
		return interpreter{python: cmd}, nil
	}
	python, err := exec.LookPath("python3")
	if err != nil {
		return interpreter{}, errors.New("no python3 on PATH and no virtualenv runtime option")
	}
	return interpreter{python: python}, nil
}

// env returns base with the virtualenv activated the way its bin/activate script would.
func (i interpreter) env(base []string) []string {
	out := make([]string, 0, len(base)+3)
	for _, kv := range base {
		if i.virtualenv != "" && (strings.HasPrefix(kv, "PYTHONHOME=") || strings.HasPrefix(kv, "PATH=") ||
			strings.HasPrefix(kv, "VIRTUAL_ENV=")) {
			continue
		}
		out = append(out, kv)
	}
	if i.virtualenv != "" {
		out = append(out,
			"VIRTUAL_ENV="+i.virtualenv,
			"PATH="+filepath.Join(i.virtualenv, "bin")+string(os.PathListSeparator)+os.Getenv("PATH"))
	}
	return append(out, "PYTHONUNBUFFERED=true")
}

// pluginManifest is the pulumi-plugin.json that every Pulumi provider SDK for Python ships.
type pluginManifest struct {
	Resource bool   `json:"resource"`
	Name     string `json:"name"`
	Version  string `json:"version"`
	Server   string `json:"server"`
}

// findPluginsScript lists the pulumi-plugin.json manifests of the installed distributions.
const findPluginsScript = `
import json, importlib.metadata as md
found = []
for dist in md.distributions():
    for f in dist.files or ():
        if f.name == "pulumi-plugin.json" and len(f.parts) == 2:
            try:
                found.append(json.loads(f.read_text()))
            except (OSError, ValueError):
                pass
print(json.dumps(found))
`

func (h *pythonHost) requiredPlugins(ctx context.Context, info *pulumirpc.ProgramInfo) ([]pluginManifest, error) {
	interp, err := interpreterFor(info)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, interp.python, "-c", findPluginsScript)
	cmd.Env = interp.env(os.Environ())
	cmd.Dir = info.GetProgramDirectory()
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, fmt.Errorf("listing installed Pulumi plugins with %s: %v: %s", interp.python, err, ee.Stderr)
		}
		return nil, fmt.Errorf("listing installed Pulumi plugins with %s: %w", interp.python, err)
	}
	var manifests []pluginManifest
	if err := json.Unmarshal(out, &manifests); err != nil {
		return nil, fmt.Errorf("parsing plugin list %q: %w", out, err)
	}
	var plugins []pluginManifest
	for _, m := range manifests {
		if m.Resource && m.Name != "" {
			plugins = append(plugins, m)
		}
	}
	return plugins, nil
}

func (h *pythonHost) GetRequiredPlugins(
	ctx context.Context, req *pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	plugins, err := h.requiredPlugins(ctx, req.GetInfo())
	if err != nil {
		return nil, err
	}
	resp := &pulumirpc.GetRequiredPluginsResponse{}
	for _, p := range plugins {
		resp.Plugins = append(resp.Plugins, &pulumirpc.PluginDependency{
			Name: p.Name, Kind: "resource", Version: p.Version, Server: p.Server,
		})
	}
	return resp, nil
}

func (h *pythonHost) GetRequiredPackages(
	ctx context.Context, req *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	plugins, err := h.requiredPlugins(ctx, req.GetInfo())
	if err != nil {
		return nil, err
	}
	resp := &pulumirpc.GetRequiredPackagesResponse{}
	for _, p := range plugins {
		resp.Packages = append(resp.Packages, &pulumirpc.PackageDependency{
			Name: p.Name, Kind: "resource", Version: p.Version, Server: p.Server,
		})
	}
	return resp, nil
}

// programPath is what the driver hands to runpy: the entry point inside the program directory
// ("." means the directory itself, whose __main__.py runs).
func programPath(info *pulumirpc.ProgramInfo) string {
	return filepath.Join(info.GetProgramDirectory(), info.GetEntryPoint())
}

func (h *pythonHost) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	info := req.GetInfo()
	if info == nil {
		return nil, status.Error(codes.InvalidArgument, "RunRequest without program info")
	}
	if req.GetQueryMode() {
		return nil, status.Error(codes.Unimplemented, "query mode is not supported")
	}
	interp, err := interpreterFor(info)
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	if _, err := os.Stat(h.execScript); err != nil {
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("missing %s next to the language host: %v",
			execScriptName, err)}, nil
	}

	h.mu.Lock()
	engine := h.engineAddress
	h.mu.Unlock()

	args := []string{
		h.execScript,
		"--monitor", req.GetMonitorAddress(),
		"--engine", engine,
		"--project", req.GetProject(),
		"--root_directory", info.GetRootDirectory(),
		"--stack", req.GetStack(),
		"--pwd", req.GetPwd(),
		"--dry_run", strconv.FormatBool(req.GetDryRun()),
		"--parallel", strconv.Itoa(int(req.GetParallel())),
		"--organization", req.GetOrganization(),
	}
	if h.tracing != "" {
		args = append(args, "--tracing", h.tracing)
	}
	args = append(args, programPath(info))
	args = append(args, req.GetArgs()...)

	configMap := req.GetConfig()
	if configMap == nil {
		configMap = map[string]string{} // the driver expects a JSON object, never null
	}
	config, err := json.Marshal(configMap)
	if err != nil {
		return nil, err
	}
	secretKeys := req.GetConfigSecretKeys()
	if secretKeys == nil {
		secretKeys = []string{}
	}
	secrets, err := json.Marshal(secretKeys)
	if err != nil {
		return nil, err
	}

	cmd := exec.CommandContext(ctx, interp.python, args...)
	cmd.Dir = req.GetPwd()
	cmd.Env = append(interp.env(os.Environ()),
		"PULUMI_CONFIG="+string(config),
		"PULUMI_CONFIG_SECRET_KEYS="+string(secrets))
	// The engine shows this process's output to the user.
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) }

	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return &pulumirpc.RunResponse{}, nil
	case errors.As(err, &ee) && ee.ExitCode() == userActionableExit:
		return &pulumirpc.RunResponse{Bail: true}, nil
	case errors.As(err, &ee):
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("Program exited with non-zero exit code: %d",
			ee.ExitCode())}, nil
	default:
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("running %s: %v", interp.python, err)}, nil
	}
}

// RunPlugin runs a plugin written in Python (a policy pack: PulumiPolicy.yaml with runtime python):
// `python <plugin dir> <args>`, its output streamed back line by line, then its exit code.
func (h *pythonHost) RunPlugin(
	req *pulumirpc.RunPluginRequest, server pulumirpc.LanguageRuntime_RunPluginServer,
) error {
	info := req.GetInfo()
	if info == nil {
		return status.Error(codes.InvalidArgument, "RunPluginRequest without program info")
	}
	interp, err := interpreterFor(info)
	if err != nil {
		return err
	}
	args := append([]string{"-u", programPath(info)}, req.GetArgs()...)
	cmd := exec.CommandContext(server.Context(), interp.python, args...)
	cmd.Dir = req.GetPwd()
	cmd.Env = interp.env(append(os.Environ(), req.GetEnv()...))

	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}

	var sendMu sync.Mutex
	send := func(resp *pulumirpc.RunPluginResponse) error {
		sendMu.Lock()
		defer sendMu.Unlock()
		return server.Send(resp)
	}
	var wg sync.WaitGroup
	pump := func(r io.Reader, wrap func([]byte) *pulumirpc.RunPluginResponse) {
		defer wg.Done()
		reader := bufio.NewReader(r)
		for {
			line, err := reader.ReadBytes('\n')
			if len(line) > 0 {
				if sendErr := send(wrap(line)); sendErr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}
	wg.Add(2)
	go pump(stdout, func(b []byte) *pulumirpc.RunPluginResponse {
		return &pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stdout{Stdout: b}}
	})
	go pump(stderr, func(b []byte) *pulumirpc.RunPluginResponse {
		return &pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stderr{Stderr: b}}
	})
	wg.Wait()

	exitCode := 0
	if err := cmd.Wait(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return err
		}
		exitCode = ee.ExitCode()
	}
	return send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Exitcode{
		Exitcode: int32(exitCode), //nolint:gosec // exit codes fit in int32
	}})
}

// InstallDependencies is a no-op when the virtualenv exists (scripts/bootstrap creates and fills it);
// otherwise it says how to create it instead of installing anything at run time.
func (h *pythonHost) InstallDependencies(
	req *pulumirpc.InstallDependenciesRequest, server pulumirpc.LanguageRuntime_InstallDependenciesServer,
) error {
	interp, err := interpreterFor(req.GetInfo())
	if err != nil {
		return err
	}
	return server.Send(&pulumirpc.InstallDependenciesResponse{
		Stdout: []byte("using existing Python environment " + interp.python + "\n"),
	})
}

func (h *pythonHost) RuntimeOptionsPrompts(
	context.Context, *pulumirpc.RuntimeOptionsRequest,
) (*pulumirpc.RuntimeOptionsResponse, error) {
	return &pulumirpc.RuntimeOptionsResponse{}, nil
}

func (h *pythonHost) About(ctx context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	resp := &pulumirpc.AboutResponse{Metadata: map[string]string{"host": "sessionstack"}}
	if req.GetInfo() == nil {
		return resp, nil
	}
	interp, err := interpreterFor(req.GetInfo())
	if err != nil {
		return nil, err
	}
	out, err := exec.CommandContext(ctx, interp.python, "-c",
		"import platform; print(platform.python_version())").Output()
	if err != nil {
		return nil, fmt.Errorf("asking %s for its version: %w", interp.python, err)
	}
	resp.Executable = interp.python
	resp.Version = strings.TrimSpace(string(out))
	return resp, nil
}
