using MultiArch.Build.Tasks.Registry;

namespace MultiArch.Build.Tasks.Tests.Infrastructure;

/// <summary>Registry clients and task environments wired to a test registry the way a user's machine would be.</summary>
internal static class TestClients
{
    /// <summary>
    /// The environment a build on this machine would see for <paramref name="server"/>: the insecure-registry list
    /// for plain-HTTP registries, and the registry user's credentials in our own variables.
    /// </summary>
    public static Dictionary<string, string?> Environment(RegistryServer server, bool withCredentials = true)
    {
        var environment = new Dictionary<string, string?>(StringComparer.Ordinal)
        {
            ["HOME"] = Path.Combine(Path.GetTempPath(), "multiarch-tests", "no-home"),
            ["DOCKER_CONFIG"] = Path.Combine(Path.GetTempPath(), "multiarch-tests", "no-docker-config"),
        };
        if (!server.IsTls)
        {
            environment["DOTNET_CONTAINER_INSECURE_REGISTRIES"] = server.Host;
        }

        if (withCredentials && server.Username is not null)
        {
            environment["MULTIARCH_REGISTRY_USERNAME"] = server.Username;
            environment["MULTIARCH_REGISTRY_PASSWORD"] = server.Password;
        }

        return environment;
    }

    /// <summary>
    /// The environment for talking to a registry through <paramref name="proxy"/>: the registry's own (credentials
    /// included) with the proxy's plain-HTTP address, and the registry's, listed as insecure.
    /// </summary>
    public static Dictionary<string, string?> Environment(FaultProxy proxy, bool withCredentials = true)
    {
        var server = proxy.Registry ?? throw new ArgumentException("The proxy was not started for a RegistryServer.", nameof(proxy));
        var environment = Environment(server, withCredentials);
        environment["DOTNET_CONTAINER_INSECURE_REGISTRIES"] = string.Join(';', new[] { proxy.Host, server.IsTls ? null : server.Host }.OfType<string>());
        return environment;
    }

    /// <summary>The insecure-registry list naming every one of <paramref name="hosts"/> (for pushes across registries).</summary>
    public static void AddInsecure(Dictionary<string, string?> environment, params string[] hosts)
    {
        var current = environment.TryGetValue("DOTNET_CONTAINER_INSECURE_REGISTRIES", out var value) && !string.IsNullOrEmpty(value) ? value.Split(';') : [];
        environment["DOTNET_CONTAINER_INSECURE_REGISTRIES"] = string.Join(';', current.Concat(hosts).Distinct(StringComparer.OrdinalIgnoreCase));
    }

    public static Func<string, string?> Lookup(IReadOnlyDictionary<string, string?> environment) =>
        name => environment.TryGetValue(name, out var value) ? value : null;

    public static RegistrySettings Settings(RegistryServer server, IReadOnlyDictionary<string, string?>? environment = null, IBuildLog? log = null)
    {
        var settings = RegistrySettings.FromEnvironment(Lookup(environment ?? Environment(server)), log ?? NullBuildLog.Instance);
        return server.IsTls ? settings with { TransportFactory = server.CreateTrustingHandler } : settings;
    }

    public static RegistryClient Client(RegistryServer server, IReadOnlyDictionary<string, string?>? environment = null, IBuildLog? log = null) =>
        new(Settings(server, environment, log));
}

/// <summary>Collects <see cref="IBuildLog"/> lines for assertions.</summary>
internal sealed class RecordingLog : IBuildLog
{
    private readonly List<string> _lines = [];

    public IReadOnlyList<string> Lines
    {
        get
        {
            lock (_lines)
            {
                return [.. _lines];
            }
        }
    }

    public void Message(LogLevel level, string message)
    {
        lock (_lines)
        {
            _lines.Add($"{level}: {message}");
        }
    }

    public void Warning(string code, string message)
    {
        lock (_lines)
        {
            _lines.Add($"warning {code}: {message}");
        }
    }
}
