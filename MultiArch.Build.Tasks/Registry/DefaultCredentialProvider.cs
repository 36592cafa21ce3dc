using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using System.Text.Json;

namespace MultiArch.Build.Tasks.Registry;

/// <summary>
/// Finds credentials the way the .NET SDK does, so the environment that lets the SDK push lets this package push:
/// <list type="number">
/// <item>our own variables <c>MULTIARCH_REGISTRY_USERNAME</c>/<c>MULTIARCH_REGISTRY_PASSWORD</c> (MSBuild does not
/// record them in binary logs), then the SDK's <c>DOTNET_CONTAINER_PUSH_REGISTRY_*</c> (push) or
/// <c>DOTNET_CONTAINER_PULL_REGISTRY_*</c> (pull), <c>DOTNET_CONTAINER_REGISTRY_*</c>, <c>SDK_CONTAINER_REGISTRY_*</c>;</item>
/// <item><c>REGISTRY_AUTH_FILE</c>;</item>
/// <item><c>$DOCKER_CONFIG/config.json</c> or <c>~/.docker/config.json</c>: <c>credHelpers</c>, <c>auths</c>, <c>credsStore</c>.</item>
/// </list>
/// </summary>
internal sealed class DefaultCredentialProvider : ICredentialProvider
{
    private static readonly (string User, string Password, bool Push, bool Pull, bool Recorded)[] s_variables =
    [
        ("MULTIARCH_REGISTRY_USERNAME", "MULTIARCH_REGISTRY_PASSWORD", true, true, false),
        ("DOTNET_CONTAINER_PUSH_REGISTRY_UNAME", "DOTNET_CONTAINER_PUSH_REGISTRY_PWORD", true, false, true),
        ("DOTNET_CONTAINER_PULL_REGISTRY_UNAME", "DOTNET_CONTAINER_PULL_REGISTRY_PWORD", false, true, true),
        ("DOTNET_CONTAINER_REGISTRY_UNAME", "DOTNET_CONTAINER_REGISTRY_PWORD", true, true, true),
        ("SDK_CONTAINER_REGISTRY_UNAME", "SDK_CONTAINER_REGISTRY_PWORD", true, true, false),
    ];

    private readonly Func<string, string?> _environment;
    private readonly IBuildLog _log;
    private readonly TimeSpan _helperTimeout;
    private readonly ConcurrentDictionary<(string, RegistryAccess), Task<RegistryCredential?>> _cache = new();
    private readonly RegistryBuildState _notices;

    /// <param name="buildCache">The build's shared cache, so the note about a recorded variable appears once per build.</param>
    public DefaultCredentialProvider(Func<string, string?> environment, IBuildLog log, TimeSpan? helperTimeout = null, RegistryBuildState? buildCache = null)
    {
        _environment = environment;
        _log = log;
        _helperTimeout = helperTimeout ?? TimeSpan.FromSeconds(30);
        _notices = buildCache ?? new RegistryBuildState();
    }

    public Task<RegistryCredential?> GetCredentialAsync(string registry, RegistryAccess access, CancellationToken cancellationToken) =>
        _cache.GetOrAdd((registry, access), key => Task.Run(() => Find(key.Item1, key.Item2, cancellationToken), cancellationToken));

    private RegistryCredential? Find(string registry, RegistryAccess access, CancellationToken cancellationToken)
    {
        foreach (var (userVariable, passwordVariable, push, pull, recorded) in s_variables)
        {
            if ((access == RegistryAccess.Push && !push) || (access == RegistryAccess.Pull && !pull))
            {
                continue;
            }

            var user = _environment(userVariable);
            var password = _environment(passwordVariable);
            if (!string.IsNullOrEmpty(user) && !string.IsNullOrEmpty(password))
            {
                if (recorded && passwordVariable.StartsWith("DOTNET_", StringComparison.Ordinal) && _notices.FirstTime(MessageId.Info_UsingSdkPasswordVariable))
                {
                    _log.Message(LogLevel.High, Messages.Text(MessageId.Info_UsingSdkPasswordVariable, registry, passwordVariable));
                }

                return new RegistryCredential(user, password, null, $"the environment variables {userVariable}/{passwordVariable}");
            }
        }

        var authFile = _environment("REGISTRY_AUTH_FILE");
        if (!string.IsNullOrEmpty(authFile) && File.Exists(authFile))
        {
            var fromAuthFile = FromConfigFile(authFile, registry, cancellationToken);
            if (fromAuthFile is not null)
            {
                return fromAuthFile;
            }
        }

        var dockerConfigDirectory = _environment("DOCKER_CONFIG");
        if (string.IsNullOrEmpty(dockerConfigDirectory))
        {
            var home = _environment("HOME") ?? Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
            dockerConfigDirectory = string.IsNullOrEmpty(home) ? null : Path.Combine(home, ".docker");
        }

        if (dockerConfigDirectory is not null)
        {
            var configFile = Path.Combine(dockerConfigDirectory, "config.json");
            if (File.Exists(configFile))
            {
                return FromConfigFile(configFile, registry, cancellationToken);
            }
        }

        _log.Message(LogLevel.Low, $"MultiArch: no credentials configured for '{registry}'; using anonymous access.");
        return null;
    }

    private RegistryCredential? FromConfigFile(string path, string registry, CancellationToken cancellationToken)
    {
        JsonDocument document;
        try
        {
            var info = new FileInfo(path);
            if (info.Length > 1024 * 1024)
            {
                throw MultiArchException.Create(MessageId.DockerConfigInvalid, path, "it is larger than 1 MiB");
            }

            document = JsonDocument.Parse(File.ReadAllBytes(path), new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
        }
        catch (Exception ex) when (ex is JsonException or IOException or UnauthorizedAccessException)
        {
            // The parser's message can quote file content; keep only its position.
            var detail = ex is JsonException json ? $"invalid JSON at line {json.LineNumber + 1}" : ex.GetType().Name;
            throw MultiArchException.Create(MessageId.DockerConfigInvalid, path, detail);
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw MultiArchException.Create(MessageId.DockerConfigInvalid, path, "it is not a JSON object");
            }

            var keys = CandidateKeys(registry);
            if (root.TryGetProperty("credHelpers", out var helpers) && helpers.ValueKind == JsonValueKind.Object)
            {
                foreach (var helper in helpers.EnumerateObject())
                {
                    if (keys.Contains(NormalizeKey(helper.Name)) && helper.Value.ValueKind == JsonValueKind.String)
                    {
                        return CredentialHelper.Get(helper.Value.GetString()!, registry, _environment("PATH"), _helperTimeout, cancellationToken);
                    }
                }
            }

            if (root.TryGetProperty("auths", out var auths) && auths.ValueKind == JsonValueKind.Object)
            {
                foreach (var entry in auths.EnumerateObject())
                {
                    if (!keys.Contains(NormalizeKey(entry.Name)) || entry.Value.ValueKind != JsonValueKind.Object)
                    {
                        continue;
                    }

                    var credential = FromAuthEntry(entry.Value, path);
                    if (credential is not null)
                    {
                        return credential;
                    }
                }
            }

            if (root.TryGetProperty("credsStore", out var store) && store.ValueKind == JsonValueKind.String && !string.IsNullOrEmpty(store.GetString()))
            {
                return CredentialHelper.Get(store.GetString()!, registry, _environment("PATH"), _helperTimeout, cancellationToken);
            }
        }

        return null;
    }

    private static RegistryCredential? FromAuthEntry(JsonElement entry, string path)
    {
        var source = $"the auth file {path}";
        var identityToken = OciString(entry, "identitytoken");
        var auth = OciString(entry, "auth");
        if (!string.IsNullOrEmpty(auth))
        {
            string decoded;
            try
            {
                decoded = Encoding.UTF8.GetString(Convert.FromBase64String(auth));
            }
            catch (FormatException)
            {
                throw MultiArchException.Create(MessageId.DockerConfigInvalid, path, "an 'auth' value is not valid base64");
            }

            var colon = decoded.IndexOf(':', StringComparison.Ordinal);
            if (colon < 0)
            {
                throw MultiArchException.Create(MessageId.DockerConfigInvalid, path, "an 'auth' value is not base64 of 'user:password'");
            }

            return new RegistryCredential(decoded[..colon], decoded[(colon + 1)..], identityToken, source);
        }

        var user = OciString(entry, "username");
        var password = OciString(entry, "password");
        if (!string.IsNullOrEmpty(user) && password is not null)
        {
            return new RegistryCredential(user, password, identityToken, source);
        }

        return string.IsNullOrEmpty(identityToken) ? null : new RegistryCredential(null, null, identityToken, source);
    }

    private static string? OciString(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    /// <summary>The keys a config may use for a registry: exact host[:port], with or without scheme and path.</summary>
    internal static HashSet<string> CandidateKeys(string registry)
    {
        var keys = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { registry };
        if (registry is "docker.io" or "index.docker.io" or "registry-1.docker.io")
        {
            keys.UnionWith(["docker.io", "index.docker.io", "registry-1.docker.io"]);
        }

        return keys;
    }

    /// <summary><c>https://host:port/v1/</c> → <c>host:port</c>: exact host matching, never a prefix match.</summary>
    internal static string NormalizeKey(string key)
    {
        var text = key.Trim();
        var scheme = text.IndexOf("://", StringComparison.Ordinal);
        if (scheme >= 0)
        {
            text = text[(scheme + 3)..];
        }

        var slash = text.IndexOf('/', StringComparison.Ordinal);
        return slash >= 0 ? text[..slash] : text;
    }
}

/// <summary>
/// Runs a docker credential helper (<c>docker-credential-NAME get</c>): found in the absolute directories of PATH only
/// (never the current directory), no shell, the registry on stdin, at most 64 KiB of output read, killed (with its
/// children) after the timeout or on cancellation. Its output is never echoed: it may hold a secret.
/// </summary>
internal static class CredentialHelper
{
    public const int MaxOutput = 64 * 1024;

    public static RegistryCredential? Get(string name, string registry, string? path, TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (name.Length == 0 || name.Length > 64 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.') || name.Contains("..", StringComparison.Ordinal))
        {
            throw MultiArchException.Create(MessageId.CredentialHelperFailed, name, registry, "the helper name may only contain letters, digits, '-', '_' and '.' (no paths)");
        }

        var executable = FindOnPath("docker-credential-" + name, path)
            ?? throw MultiArchException.Create(MessageId.CredentialHelperFailed, name, registry, "it was not found on PATH");

        var start = new ProcessStartInfo(executable)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetTempPath(),
        };
        start.ArgumentList.Add("get");
        using var process = Process.Start(start)
            ?? throw MultiArchException.Create(MessageId.CredentialHelperFailed, name, registry, "it could not be started");
        var output = new BoundedText();
        var stdout = Task.Run(() => output.ReadFrom(process.StandardOutput), CancellationToken.None);
        var stderr = Task.Run(() => new BoundedText().ReadFrom(process.StandardError), CancellationToken.None);
        try
        {
            process.StandardInput.Write(registry);
            process.StandardInput.Close();
        }
        catch (IOException)
        {
            // It exited without reading stdin: its exit code and output tell what happened.
        }

        // Wait in short slices, so a build cancelled (Ctrl+C) while a helper hangs stops at once.
        var clock = Stopwatch.StartNew();
        while (!process.WaitForExit(50))
        {
            if (cancellationToken.IsCancellationRequested || clock.Elapsed >= timeout || output.Overflowed)
            {
                Kill(process);
                cancellationToken.ThrowIfCancellationRequested();
                throw MultiArchException.Create(MessageId.CredentialHelperFailed, name, registry, output.Overflowed
                    ? $"it wrote more than {MaxOutput / 1024} KiB"
                    : $"it did not answer within {timeout.TotalSeconds:0.#} s");
            }
        }

        Task.WaitAll([stdout, stderr], TimeSpan.FromSeconds(5));
        if (output.Overflowed)
        {
            throw MultiArchException.Create(MessageId.CredentialHelperFailed, name, registry, $"it wrote more than {MaxOutput / 1024} KiB");
        }

        var text = output.Text;
        if (process.ExitCode != 0)
        {
            if (text.Contains("credentials not found", StringComparison.OrdinalIgnoreCase))
            {
                return null;
            }

            // Never echo the helper's output: it may hold a secret.
            throw MultiArchException.Create(MessageId.CredentialHelperFailed, name, registry, $"it exited with code {process.ExitCode}");
        }

        try
        {
            using var document = JsonDocument.Parse(text);
            var root = document.RootElement;
            var user = root.TryGetProperty("Username", out var u) && u.ValueKind == JsonValueKind.String ? u.GetString() : null;
            var secret = root.TryGetProperty("Secret", out var s) && s.ValueKind == JsonValueKind.String ? s.GetString() : null;
            var source = $"the credential helper docker-credential-{name}";
            if (string.IsNullOrEmpty(secret))
            {
                return null;
            }

            return user == "<token>"
                ? new RegistryCredential(null, null, secret, source)
                : new RegistryCredential(user, secret, null, source);
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            throw MultiArchException.Create(MessageId.CredentialHelperFailed, name, registry, "its output is not the JSON of the credential helper protocol");
        }
    }

    private static void Kill(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (Exception ex) when (ex is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            // It exited meanwhile.
        }
    }

    /// <summary>
    /// <paramref name="fileName"/> in the absolute directories of <paramref name="path"/> (a PATH value), in order; relative
    /// entries (the current directory on Windows and in empty entries) are skipped.
    /// </summary>
    internal static string? FindOnPath(string fileName, string? path)
    {
        foreach (var directory in (path ?? string.Empty).Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            if (!Path.IsPathRooted(directory) || !Path.IsPathFullyQualified(directory))
            {
                continue; // never the current directory or a relative entry
            }

            foreach (var candidate in OperatingSystem.IsWindows() ? new[] { fileName + ".exe", fileName + ".cmd" } : [fileName])
            {
                var full = Path.Combine(directory, candidate);
                if (File.Exists(full))
                {
                    return full;
                }
            }
        }

        return null;
    }

    /// <summary>Reads a stream to its end, keeping at most <see cref="MaxOutput"/> characters and noting whether there were more.</summary>
    private sealed class BoundedText
    {
        private readonly StringBuilder _text = new();
        private volatile bool _overflowed;

        public bool Overflowed => _overflowed;

        public string Text
        {
            get
            {
                lock (_text)
                {
                    return _text.ToString();
                }
            }
        }

        public void ReadFrom(StreamReader reader)
        {
            var buffer = new char[4096];
            int read;
            while ((read = reader.Read(buffer, 0, buffer.Length)) > 0)
            {
                lock (_text)
                {
                    if (_text.Length + read <= MaxOutput)
                    {
                        _text.Append(buffer, 0, read);
                    }
                    else
                    {
                        _overflowed = true;
                    }
                }
            }
        }
    }
}
