using System.Reflection;
using MultiArch.Build.Tasks;
using MultiArch.Build.Tasks.Oci;
using MultiArch.Build.Tasks.Registry;

namespace MultiArch.Tool;

/// <summary>
/// The <c>multiarch</c> command: parses the command line, runs one command over the core, and turns every failure into
/// one coded line on stderr (exit code 1). Results go to stdout, nothing else does.
/// </summary>
public static class Cli
{
    /// <summary>How long one command may take before it stops (the tasks' default operation timeout).</summary>
    private static readonly TimeSpan s_operationTimeout = TimeSpan.FromMinutes(30);

    /// <summary>Runs one command line; returns the exit code (0 success, 1 failure).</summary>
    /// <param name="args">The arguments after the program name.</param>
    /// <param name="stdout">Where results go.</param>
    /// <param name="stderr">Where errors, warnings and <c>--debug</c> output go.</param>
    /// <param name="environment">The environment variables (credentials, insecure registries, docker config).</param>
    /// <param name="cancellationToken">Ctrl+C: stops the command the way a cancelled build stops the tasks.</param>
    public static async Task<int> RunAsync(IReadOnlyList<string> args, TextWriter stdout, TextWriter stderr, Func<string, string?> environment, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);
        ArgumentNullException.ThrowIfNull(environment);
        var debug = args.Any(a => a is "--debug" or "-debug" or "--debug=true");
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(s_operationTimeout);
        try
        {
            var line = CommandLine.Parse(args);
            debug = line.Has("debug");
            if (line.HelpRequested || (line.Command.Length == 0 && !line.Has("version")))
            {
                await stdout.WriteAsync(Help.For(line.Command));
                return 0;
            }

            if (line.Has("version"))
            {
                await stdout.WriteAsync($"multiarch version {Version}\n");
                return 0;
            }

            var log = new ConsoleLog(stderr, debug);
            return line.Command switch
            {
                CommandLine.Inspect => await InspectCommand.RunAsync(line, stdout, log, environment, deadline.Token),
                CommandLine.PushFromSpec or CommandLine.PushFromArgs => await PushCommand.RunAsync(line, stdout, log, environment, deadline.Token),
                _ => await TestRegistryCommand.RunAsync(line, stdout, log, environment, deadline.Token),
            };
        }
        catch (Exception ex) when (cancellationToken.IsCancellationRequested)
        {
            return await FailAsync(stderr, MultiArchException.Create(ex, MessageId.Cancelled), debug);
        }
        catch (Exception ex) when (deadline.IsCancellationRequested)
        {
            return await FailAsync(stderr, MultiArchException.Create(ex, MessageId.OperationTimedOut, "multiarch", s_operationTimeout.TotalSeconds), debug);
        }
        catch (MultiArchException ex)
        {
            return await FailAsync(stderr, ex, debug);
        }
        catch (Exception ex)
        {
            var (code, text) = Messages.Format(MessageId.UnexpectedError, "multiarch", ex.Message);
            return await FailAsync(stderr, new MultiArchException(code, text, ex), debug);
        }
        finally
        {
            await stdout.FlushAsync(CancellationToken.None);
            await stderr.FlushAsync(CancellationToken.None);
        }
    }

    /// <summary>The package version (without the commit suffix).</summary>
    public static string Version
    {
        get
        {
            var version = typeof(Cli).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";
            var plus = version.IndexOf('+', StringComparison.Ordinal);
            return plus > 0 ? version[..plus] : version;
        }
    }

    /// <summary>Registry settings from the environment, as the tasks read them, with the global options on top.</summary>
    internal static RegistrySettings CreateSettings(CommandLine line, Func<string, string?> environment, IBuildLog log, params ImageReference[] references)
    {
        var variables = new Dictionary<string, string?>(StringComparer.Ordinal);
        var user = line.Value("username");
        var password = line.Value("password");
        if (!string.IsNullOrEmpty(user) || !string.IsNullOrEmpty(password))
        {
            // As manifest-tool: the flags win over every other source, for every registry.
            variables["MULTIARCH_REGISTRY_USERNAME"] = user;
            variables["MULTIARCH_REGISTRY_PASSWORD"] = password;
        }

        if (line.Value("docker-cfg") is { Length: > 0 } dockerConfig)
        {
            if (Directory.Exists(dockerConfig))
            {
                variables["DOCKER_CONFIG"] = Path.GetFullPath(dockerConfig);
            }
            else if (File.Exists(dockerConfig))
            {
                // A single auth file: read first, and no other docker config behind it.
                variables["REGISTRY_AUTH_FILE"] = Path.GetFullPath(dockerConfig);
                variables["DOCKER_CONFIG"] = Path.Combine(Path.GetFullPath(dockerConfig), "no-docker-config");
            }
            else
            {
                throw MultiArchException.Create(MessageId.CliDockerConfigNotFound, dockerConfig);
            }
        }

        if (line.Has("insecure") || line.Has("plain-http"))
        {
            var listed = environment("DOTNET_CONTAINER_INSECURE_REGISTRIES");
            variables["DOTNET_CONTAINER_INSECURE_REGISTRIES"] = string.Join(";", new[] { listed }.Concat(references.Select(r => r.Registry)).Where(v => !string.IsNullOrEmpty(v)));
        }

        string? Read(string name) => variables.TryGetValue(name, out var value) ? value : environment(name);
        return RegistrySettings.FromEnvironment(Read, log) with { UserAgent = "multiarch/" + Version };
    }

    private static async Task<int> FailAsync(TextWriter stderr, MultiArchException ex, bool debug)
    {
        await stderr.WriteAsync($"error {ex.Code}: {ex.Message}\n");
        if (debug && ex.InnerException is { } inner)
        {
            await stderr.WriteAsync($"debug: {inner}\n");
        }

        return 1;
    }
}
