using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;

namespace MultiArch.Build.Tasks.Tests.Infrastructure;

/// <summary>How a <see cref="RegistryServer"/> authenticates and transports.</summary>
public enum RegistryMode
{
    /// <summary>Plain HTTP, no authentication.</summary>
    Open,

    /// <summary>Plain HTTP, htpasswd (bcrypt) Basic authentication.</summary>
    Basic,

    /// <summary>HTTPS with a test CA, no authentication.</summary>
    Tls,

    /// <summary>Plain HTTP, bearer tokens from an in-process <see cref="TokenServer"/>.</summary>
    Token,
}

/// <summary>Settings for a <see cref="RegistryServer"/>.</summary>
internal sealed record RegistryOptions(RegistryMode Mode = RegistryMode.Open)
{
    /// <summary><c>storage.delete.enabled</c>: when false, manifest and blob DELETEs get 405.</summary>
    public bool DeleteEnabled { get; init; } = true;

    /// <summary>The user for <see cref="RegistryMode.Basic"/> and <see cref="RegistryMode.Token"/>.</summary>
    public string Username { get; init; } = "tester";

    /// <summary>The user's password; null makes a random one.</summary>
    public string? Password { get; init; }

    /// <summary>
    /// Token-server settings for <see cref="RegistryMode.Token"/>. The registry's user is added to its users;
    /// Service and Issuer are taken from here.
    /// </summary>
    public TokenServerOptions Token { get; init; } = new();

    /// <summary>How long to wait for <c>GET /v2/</c> to answer before giving up.</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// Variables for the registry process, set after every inherited <c>REGISTRY_*</c> variable is cleared. distribution
    /// reads <c>REGISTRY_&lt;CONFIG_PATH&gt;</c> as a config override (e.g. <c>REGISTRY_STORAGE_DELETE_ENABLED=false</c>).
    /// </summary>
    public IReadOnlyDictionary<string, string?>? Environment { get; init; }
}

/// <summary>
/// Debian's <c>docker-registry serve</c> (distribution 2.8) on <c>127.0.0.1:&lt;free port&gt;</c> with its own storage,
/// config and log under <c>$TMPDIR/multiarch-tests/&lt;guid&gt;</c>. Dispose kills it and deletes the folder.
/// </summary>
internal sealed class RegistryServer : IAsyncDisposable
{
    private const string RegistryBinary = "docker-registry";
    private const int MaxStartAttempts = 3;

    private readonly Lock _logLock = new();
    private readonly TestCertificate? _ca;
    private readonly X509Certificate2? _caPublic;
    private Process? _process;
    private StreamWriter? _logWriter;
    private string? _finalLog;
    private bool _disposed;

    private RegistryServer(RegistryOptions options, string directory, TestCertificate? ca, TokenServer? tokenServer)
    {
        Options = options;
        RootDirectory = directory;
        _ca = ca;
        _caPublic = ca is null ? null : X509CertificateLoader.LoadCertificate(ca.Certificate.RawData);
        TokenServer = tokenServer;
        var hasUser = options.Mode is RegistryMode.Basic or RegistryMode.Token;
        Username = hasUser ? options.Username : null;
        Password = hasUser ? options.Password : null;
    }

    public RegistryOptions Options { get; }

    public RegistryMode Mode => Options.Mode;

    /// <summary>The fixture's temp folder: config, log, certificates, storage.</summary>
    public string RootDirectory { get; }

    /// <summary>The registry's filesystem storage root.</summary>
    public string StorageDirectory => Path.Combine(RootDirectory, "storage");

    public string LogPath => Path.Combine(RootDirectory, "registry.log");

    public int Port { get; private set; }

    /// <summary><c>127.0.0.1:PORT</c>: the registry part of an image reference.</summary>
    public string Host => "127.0.0.1:" + Port.ToString(CultureInfo.InvariantCulture);

    /// <summary><c>http://127.0.0.1:PORT/</c>, or <c>https://</c> in <see cref="RegistryMode.Tls"/>.</summary>
    public Uri BaseUri => new($"{(IsTls ? "https" : "http")}://{Host}/");

    public bool IsTls => Mode == RegistryMode.Tls;

    /// <summary>The user in Basic and Token modes; null otherwise.</summary>
    public string? Username { get; }

    /// <summary>The password in Basic and Token modes; null otherwise.</summary>
    public string? Password { get; }

    /// <summary>The token server in <see cref="RegistryMode.Token"/> (owned: disposed with the registry); null otherwise.</summary>
    public TokenServer? TokenServer { get; }

    /// <summary>The test CA's certificate as PEM (TLS mode only).</summary>
    public string? CaPemPath => _ca is null ? null : Path.Combine(RootDirectory, "ca.pem");

    /// <summary>A folder holding only <c>ca.crt</c>, for skopeo's <c>--cert-dir</c> (TLS mode only; skopeo reads only *.crt there).</summary>
    public string? CertDir => _ca is null ? null : Path.Combine(RootDirectory, "certs.d");

    /// <summary>Everything the registry logged so far (level info: requests and auth failures, with reasons).</summary>
    public string Log
    {
        get
        {
            if (_finalLog is not null)
            {
                return _finalLog;
            }

            lock (_logLock)
            {
                _logWriter?.Flush();
                return File.Exists(LogPath) ? ReadShared(LogPath) : string.Empty;
            }
        }
    }

    /// <summary>Starts a registry; throws with the registry log when it does not become ready.</summary>
    public static async Task<RegistryServer> StartAsync(RegistryOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new RegistryOptions();
        var directory = Path.Combine(Path.GetTempPath(), "multiarch-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path.Combine(directory, "storage"));

        TestCertificate? ca = null;
        TokenServer? tokenServer = null;
        RegistryServer? server = null;
        try
        {
            if (options.Mode == RegistryMode.Tls)
            {
                ca = TestCertificates.CreateCertificateAuthority();
            }

            if (options.Mode is RegistryMode.Basic or RegistryMode.Token && options.Password is null)
            {
                options = options with { Password = "pw-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8)) };
            }

            if (options.Mode == RegistryMode.Token)
            {
                var users = new Dictionary<string, string>(options.Token.Users, StringComparer.Ordinal) { [options.Username] = options.Password! };
                tokenServer = await TokenServer.StartAsync(options.Token with { Users = users }, cancellationToken);
            }

            server = new RegistryServer(options, directory, ca, tokenServer);
            await server.WriteFilesAsync(cancellationToken);
            await server.StartProcessAsync(cancellationToken);
            return server;
        }
        catch
        {
            if (server is not null)
            {
                await server.DisposeAsync();
            }
            else
            {
                if (tokenServer is not null)
                {
                    await tokenServer.DisposeAsync();
                }

                ca?.Dispose();
                TryDeleteDirectory(directory);
            }

            throw;
        }
    }

    /// <summary>
    /// A handler that trusts only this registry's test CA (custom root trust, no revocation check) and still rejects
    /// name mismatches. Outside TLS mode it is a plain <see cref="SocketsHttpHandler"/>.
    /// </summary>
    public HttpMessageHandler CreateTrustingHandler()
    {
        var handler = new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(1) };
        if (_caPublic is { } root)
        {
            handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, errors) => IsTrusted(root, certificate, errors);
        }

        return handler;
    }

    /// <summary>An <see cref="HttpClient"/> over <see cref="CreateTrustingHandler"/> with <see cref="BaseUri"/> set; no credentials.</summary>
    public HttpClient CreateHttpClient() => new(CreateTrustingHandler(), disposeHandler: true) { BaseAddress = BaseUri, Timeout = TimeSpan.FromSeconds(30) };

    /// <summary>
    /// The Authorization header for <paramref name="actions"/> on <paramref name="repository"/>: null for Open and Tls,
    /// Basic for Basic, and a bearer token from the token server (fetched with the registry's user) for Token.
    /// </summary>
    public async Task<AuthenticationHeaderValue?> GetAuthorizationAsync(string repository, string actions = "pull", CancellationToken cancellationToken = default)
    {
        switch (Mode)
        {
            case RegistryMode.Basic:
                return new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{Username}:{Password}")));
            case RegistryMode.Token:
                var token = await TokenServer!.GetTokenAsync([$"repository:{repository}:{actions}"], Username, Password, cancellationToken);
                return new AuthenticationHeaderValue("Bearer", token);
            default:
                return null;
        }
    }

    /// <summary><c>127.0.0.1:PORT/repository:tag</c> (or <c>@digest</c> when <paramref name="tagOrDigest"/> contains ':').</summary>
    public string Reference(string repository, string tagOrDigest = "latest") =>
        $"{Host}/{repository}{(tagOrDigest.Contains(':', StringComparison.Ordinal) ? "@" : ":")}{tagOrDigest}";

    /// <summary>
    /// The log lines that mention <paramref name="text"/> (e.g. a repository name), for failure messages. A line that
    /// matches also brings the line just before it when that one carries no request context: the registry logs the
    /// reason a token was rejected (<c>level=info</c>) on such a line, right before the request's own warning.
    /// </summary>
    public string LogLinesContaining(string text)
    {
        var lines = Log.Split('\n');
        var selected = new List<string>();
        for (var i = 0; i < lines.Length; i++)
        {
            if (!lines[i].Contains(text, StringComparison.Ordinal))
            {
                continue;
            }

            if (i > 0 && lines[i - 1].StartsWith("time=", StringComparison.Ordinal) && !lines[i - 1].Contains("http.request.", StringComparison.Ordinal) &&
                (selected.Count == 0 || !ReferenceEquals(selected[^1], lines[i - 1])))
            {
                selected.Add(lines[i - 1]);
            }

            selected.Add(lines[i]);
        }

        return string.Join('\n', selected);
    }

    public override string ToString() => $"{Mode} registry at {BaseUri}";

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        if (_process is { } process)
        {
            ProcessRunner.KillTree(process);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try
            {
                await process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                // Leave it; the folder is deleted anyway.
            }

            process.Dispose();
        }

        _finalLog = Log;
        lock (_logLock)
        {
            _logWriter?.Dispose();
            _logWriter = null;
        }

        if (TokenServer is not null)
        {
            await TokenServer.DisposeAsync();
        }

        _ca?.Dispose();
        _caPublic?.Dispose();
        TryDeleteDirectory(RootDirectory);
    }

    /// <summary>True for a certificate that chains to <paramref name="root"/> and matches the name asked for.</summary>
    internal static bool IsTrusted(X509Certificate2 root, X509Certificate? certificate, SslPolicyErrors errors)
    {
        if (certificate is null || (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != SslPolicyErrors.None)
        {
            return false; // no certificate, or the name does not match: never overridden
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(root);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck; // the test CA publishes no CRL
        return chain.Build(certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()));
    }

    private async Task WriteFilesAsync(CancellationToken cancellationToken)
    {
        if (_ca is not null)
        {
            using var serverCertificate = TestCertificates.CreateServerCertificate(_ca, [IPAddress.Loopback], ["localhost"]);
            await File.WriteAllTextAsync(CaPemPath!, _ca.CertificatePem, cancellationToken);
            Directory.CreateDirectory(CertDir!);
            await File.WriteAllTextAsync(Path.Combine(CertDir!, "ca.crt"), _ca.CertificatePem, cancellationToken);
            await File.WriteAllTextAsync(Path.Combine(RootDirectory, "server.crt"), serverCertificate.CertificatePem, cancellationToken);
            await File.WriteAllTextAsync(Path.Combine(RootDirectory, "server.key"), serverCertificate.KeyPem, cancellationToken);
        }

        if (Mode == RegistryMode.Basic)
        {
            // bcrypt is the only scheme distribution's htpasswd accepts.
            var result = await ProcessRunner.RunCheckedAsync("htpasswd", ["-Bbn", Username!, Password!], TimeSpan.FromSeconds(30), cancellationToken: cancellationToken);
            await File.WriteAllTextAsync(Path.Combine(RootDirectory, "htpasswd"), result.StandardOutputText.Trim() + "\n", cancellationToken);
        }

        if (TokenServer is not null)
        {
            await File.WriteAllTextAsync(Path.Combine(RootDirectory, "token-signer.pem"), TokenServer.SigningCertificatePem, cancellationToken);
        }
    }

    private string ConfigYaml()
    {
        // Scalars are written as JSON strings, which YAML reads as double-quoted scalars.
        static string Q(string value) => JsonSerializer.Serialize(value);
        var yaml = new StringBuilder()
            .AppendLine("version: 0.1")
            .AppendLine("log:")
            .AppendLine("  level: info")
            .AppendLine("  formatter: text")
            .AppendLine("storage:")
            .AppendLine("  filesystem:")
            .AppendLine("    rootdirectory: " + Q(StorageDirectory))
            .AppendLine("  delete:")
            .AppendLine("    enabled: " + (Options.DeleteEnabled ? "true" : "false"))
            .AppendLine("  maintenance:")
            .AppendLine("    uploadpurging:")
            .AppendLine("      enabled: false")
            .AppendLine("http:")
            .AppendLine("  addr: " + Q(Host))
            .AppendLine("  secret: " + Q(Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16))));
        if (IsTls)
        {
            yaml.AppendLine("  tls:")
                .AppendLine("    certificate: " + Q(Path.Combine(RootDirectory, "server.crt")))
                .AppendLine("    key: " + Q(Path.Combine(RootDirectory, "server.key")));
        }

        if (Mode == RegistryMode.Basic)
        {
            yaml.AppendLine("auth:")
                .AppendLine("  htpasswd:")
                .AppendLine("    realm: " + Q("multiarch-test"))
                .AppendLine("    path: " + Q(Path.Combine(RootDirectory, "htpasswd")));
        }

        if (TokenServer is not null)
        {
            yaml.AppendLine("auth:")
                .AppendLine("  token:")
                .AppendLine("    realm: " + Q(TokenServer.Realm.ToString()))
                .AppendLine("    service: " + Q(TokenServer.Service))
                .AppendLine("    issuer: " + Q(TokenServer.Issuer))
                .AppendLine("    rootcertbundle: " + Q(Path.Combine(RootDirectory, "token-signer.pem")));
        }

        return yaml.ToString();
    }

    private async Task StartProcessAsync(CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            Port = FreePort();
            var configPath = Path.Combine(RootDirectory, "config.yml");
            await File.WriteAllTextAsync(configPath, ConfigYaml(), cancellationToken);
            WriteLogLine($"--- multiarch test fixture: starting {RegistryBinary} on {Host} ({Mode}), attempt {attempt} ---");

            var startInfo = new ProcessStartInfo(RegistryBinary)
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
                WorkingDirectory = RootDirectory,
            };
            startInfo.ArgumentList.Add("serve");
            startInfo.ArgumentList.Add(configPath);
            ProcessRunner.ApplyEnvironment(startInfo, Options.Environment);

            var process = new Process { StartInfo = startInfo, EnableRaisingEvents = true };
            process.OutputDataReceived += (_, e) => WriteLogLine(e.Data);
            process.ErrorDataReceived += (_, e) => WriteLogLine(e.Data);
            process.Start();
            process.StandardInput.Close();
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            _process = process;

            var ready = await WaitUntilReadyAsync(process, cancellationToken);
            if (ready)
            {
                return;
            }

            var log = Log;
            if (process.HasExited && log.Contains("address already in use", StringComparison.Ordinal) && attempt < MaxStartAttempts)
            {
                process.Dispose();
                _process = null;
                continue; // someone took the port between our probe and the registry's bind
            }

            var why = process.HasExited ? $"exited with code {process.ExitCode}" : $"did not answer GET /v2/ within {Options.StartTimeout.TotalSeconds:0.#} s";
            var overrides = Options.Environment is { Count: > 0 } environment
                ? "Environment overrides: " + string.Join(", ", environment.Select(e => $"{e.Key}={e.Value}")) + "\n"
                : string.Empty;
            throw new InvalidOperationException($"{RegistryBinary} ({Mode}) on {Host} {why}. Config:\n{ConfigYaml()}{overrides}\nRegistry log:\n{log}");
        }
    }

    /// <summary>Polls <c>GET /v2/</c> every 100 ms until 200 or 401. False when the process exits or time runs out.</summary>
    private async Task<bool> WaitUntilReadyAsync(Process process, CancellationToken cancellationToken)
    {
        using var client = new HttpClient(CreateTrustingHandler()) { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < Options.StartTimeout)
        {
            if (process.HasExited)
            {
                await process.WaitForExitAsync(cancellationToken); // drains the log
                return false;
            }

            try
            {
                using var response = await client.GetAsync(new Uri(BaseUri, "v2/"), cancellationToken);
                if (response.StatusCode is HttpStatusCode.OK or HttpStatusCode.Unauthorized)
                {
                    return true;
                }
            }
            catch (HttpRequestException)
            {
                // not listening yet
            }
            catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // a 2 s request timeout
            }

            await Task.Delay(100, cancellationToken);
        }

        return false;
    }

    private void WriteLogLine(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_logLock)
        {
            if (_logWriter is null && !_disposed)
            {
                _logWriter = new StreamWriter(new FileStream(LogPath, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete)) { AutoFlush = true };
            }

            _logWriter?.WriteLine(line);
        }
    }

    private static string ReadShared(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    /// <summary>A loopback port nothing listens on at the moment of asking (a registry that is not running).</summary>
    public static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            return ((IPEndPoint)listener.LocalEndpoint).Port;
        }
        finally
        {
            listener.Stop();
        }
    }

    private static void TryDeleteDirectory(string directory)
    {
        for (var attempt = 0; attempt < 3; attempt++)
        {
            try
            {
                if (Directory.Exists(directory))
                {
                    Directory.Delete(directory, recursive: true);
                }

                return;
            }
            catch (IOException)
            {
                Thread.Sleep(100);
            }
            catch (UnauthorizedAccessException)
            {
                Thread.Sleep(100);
            }
        }
    }
}
