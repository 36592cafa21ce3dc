using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using MultiArch.Build.Tasks.Registry;

namespace MultiArch.Build.Tasks.Tests.Infrastructure;

/// <summary>Clients wired to a <see cref="FaultProxy"/> with short retry delays, and the small fixtures the reliability tests share.</summary>
internal static class ReliabilityKit
{
    /// <summary>The first retry delay in these tests: the retry logic runs in full, in milliseconds instead of seconds.</summary>
    public static readonly TimeSpan FastRetry = TimeSpan.FromMilliseconds(5);

    /// <summary>
    /// Settings for a client of <paramref name="proxy"/> (the proxy listed as insecure unless it speaks HTTPS, the registry's
    /// user in our variables), with <see cref="FastRetry"/>; <paramref name="environment"/> replaces the environment.
    /// </summary>
    public static RegistrySettings Settings(FaultProxy proxy, IBuildLog? log = null, IReadOnlyDictionary<string, string?>? environment = null)
    {
        var settings = RegistrySettings.FromEnvironment(TestClients.Lookup(environment ?? TestClients.Environment(proxy)), log ?? NullBuildLog.Instance) with
        {
            RetryBaseDelay = FastRetry,
        };
        return proxy.IsTls ? settings with { TransportFactory = proxy.CreateTrustingHandler } : settings;
    }

    public static RegistryClient Client(FaultProxy proxy, IBuildLog? log = null, Func<RegistrySettings, RegistrySettings>? configure = null, IReadOnlyDictionary<string, string?>? environment = null)
    {
        var settings = Settings(proxy, log, environment);
        return new RegistryClient(configure?.Invoke(settings) ?? settings);
    }

    /// <summary>
    /// A second proxy in front of the registry's token server, and <paramref name="registryProxy"/> set to point every
    /// challenge's realm at it (<see cref="FaultProxy.RealmRewrite"/>, so fault rules still fire): <paramref name="host"/>
    /// (<c>127.0.0.1</c>: the registry's own host, another port; <c>localhost</c>: another host name). The token proxy
    /// records every token request and its headers.
    /// </summary>
    public static async Task<FaultProxy> ProxyTokenServiceAsync(FaultProxy registryProxy, string host = "127.0.0.1", CancellationToken cancellationToken = default)
    {
        var realm = registryProxy.Registry?.TokenServer?.Realm ?? throw new ArgumentException("The proxy's registry has no token server.", nameof(registryProxy));
        var tokenProxy = await FaultProxy.StartAsync(new Uri(realm.GetLeftPart(UriPartial.Authority)), cancellationToken: cancellationToken);
        registryProxy.RealmRewrite = _ => $"http://{host}:{tokenProxy.Port}/token";
        return tokenProxy;
    }

    /// <summary>
    /// Whether the process <paramref name="pid"/> still runs, waiting up to two seconds for it to go: gone, or a zombie
    /// waiting to be reaped, it is not running either way (Linux: <c>/proc</c>).
    /// </summary>
    public static bool IsRunning(string pid)
    {
        var stat = $"/proc/{pid.Trim()}/stat";
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(2))
        {
            try
            {
                if (File.ReadAllText(stat).Contains(") Z ", StringComparison.Ordinal))
                {
                    return false;
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                return false; // gone
            }

            Thread.Sleep(20);
        }

        return true;
    }

    /// <summary>Runs <paramref name="action"/> and returns how long it took with what it threw (null when it did not).</summary>
    public static async Task<(TimeSpan Elapsed, Exception? Error)> TimeAsync(Func<Task> action)
    {
        var stopwatch = Stopwatch.StartNew();
        try
        {
            await action();
            return (stopwatch.Elapsed, null);
        }
        catch (Exception ex)
        {
            return (stopwatch.Elapsed, ex);
        }
    }
}

/// <summary>
/// A TCP port that accepts no connection in time: a listener with a backlog of one, filled, so Linux drops further SYNs
/// and a connect attempt hangs until the client's connect timeout.
/// </summary>
internal sealed class StalledListener : IDisposable
{
    private readonly Socket _listener;
    private readonly List<Socket> _fillers = [];

    private StalledListener(Socket listener, int port)
    {
        _listener = listener;
        Port = port;
    }

    public int Port { get; }

    public string Host => $"127.0.0.1:{Port}";

    public static async Task<StalledListener> StartAsync()
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(0);
        var stalled = new StalledListener(listener, ((IPEndPoint)listener.LocalEndPoint!).Port);
        for (var i = 0; i < 3; i++)
        {
            var filler = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            stalled._fillers.Add(filler);
            _ = filler.ConnectAsync(listener.LocalEndPoint!).ContinueWith(t => _ = t.Exception, TaskScheduler.Default);
            await Task.Delay(50);
        }

        return stalled;
    }

    public void Dispose()
    {
        foreach (var filler in _fillers)
        {
            filler.Dispose();
        }

        _listener.Dispose();
    }
}

/// <summary>
/// Docker credential helpers as tiny shell scripts (<c>docker-credential-NAME</c>) in a folder of their own, to put on
/// PATH, and a docker config that names them.
/// </summary>
internal sealed class CredentialHelpers : IDisposable
{
    public CredentialHelpers()
    {
        Directory = Path.Combine(Path.GetTempPath(), "multiarch-tests", "helpers-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(Directory);
        ConfigDirectory = Path.Combine(Directory, "docker-config");
        System.IO.Directory.CreateDirectory(ConfigDirectory);
    }

    /// <summary>The folder holding the helpers: the PATH entry.</summary>
    public string Directory { get; }

    /// <summary>A folder for <c>config.json</c>: the <c>DOCKER_CONFIG</c>.</summary>
    public string ConfigDirectory { get; }

    /// <summary><see cref="Directory"/> in front of this process's PATH.</summary>
    public string PathValue => Directory + Path.PathSeparator + Environment.GetEnvironmentVariable("PATH");

    /// <summary>A helper that answers every <c>get</c> with this user and secret (the JSON of the helper protocol).</summary>
    public string Answering(string name, string user, string secret) =>
        Script(name, $$"""
            read -r server
            printf '%s' '{"ServerURL":"'"$server"'","Username":"{{user}}","Secret":"{{secret}}"}'
            """);

    /// <summary>Writes <c>docker-credential-NAME</c>: a <c>/bin/sh</c> script with <paramref name="body"/>; returns its path.</summary>
    public string Script(string name, string body)
    {
        var path = Path.Combine(Directory, "docker-credential-" + name);
        WriteScript(path, body);
        return path;
    }

    /// <summary>Writes an executable <c>/bin/sh</c> script with <paramref name="body"/> at <paramref name="path"/>.</summary>
    public static void WriteScript(string path, string body)
    {
        File.WriteAllText(path, "#!/bin/sh\n" + body.Replace("\r\n", "\n", StringComparison.Ordinal) + "\n", new UTF8Encoding(false));
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute);
        }
    }

    /// <summary>Writes <c>config.json</c> into <see cref="ConfigDirectory"/>.</summary>
    public void Config(string json) => File.WriteAllText(Path.Combine(ConfigDirectory, "config.json"), json);

    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
