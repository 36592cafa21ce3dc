using System.Text.Json;

namespace MultiArch.Build.Tasks.Registry;

/// <summary>
/// Where the .NET SDK's own container push (10.0) looks for credentials, without reading any secret: its environment
/// variables (<c>DOTNET_CONTAINER_PUSH_REGISTRY_UNAME/PWORD</c>, <c>DOTNET_CONTAINER_REGISTRY_UNAME/PWORD</c>,
/// <c>SDK_CONTAINER_REGISTRY_UNAME/PWORD</c>), then the first auth file that exists: <c>REGISTRY_AUTH_FILE</c> (only
/// that one when set), <c>$XDG_RUNTIME_DIR/containers/auth.json</c>, <c>$XDG_CONFIG_HOME</c> (or
/// <c>~/.config</c>)<c>/containers/auth.json</c>, <c>$DOCKER_CONFIG</c> (or <c>~/.docker</c>)<c>/config.json</c>, where
/// <c>credHelpers</c>, <c>credsStore</c> or <c>auths</c> may serve the registry.
/// </summary>
internal static class SdkCredentialSources
{
    private static readonly string[] s_variablePrefixes = ["DOTNET_CONTAINER_PUSH_REGISTRY_", "DOTNET_CONTAINER_REGISTRY_", "SDK_CONTAINER_REGISTRY_"];

    /// <summary>True when the SDK's push would find something to try for <paramref name="registry"/> (host[:port]).</summary>
    public static bool HasAny(string registry, Func<string, string?> environment)
    {
        if (s_variablePrefixes.Any(prefix => !string.IsNullOrEmpty(environment(prefix + "UNAME")) && !string.IsNullOrEmpty(environment(prefix + "PWORD"))))
        {
            return true;
        }

        return AuthFiles(environment).Any(file => Serves(file, registry));
    }

    private static IEnumerable<string> AuthFiles(Func<string, string?> environment)
    {
        if (environment("REGISTRY_AUTH_FILE") is { Length: > 0 } only)
        {
            yield return only;
            yield break;
        }

        var home = environment("HOME") ?? Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        if (environment("XDG_RUNTIME_DIR") is { Length: > 0 } runtime)
        {
            yield return Path.Combine(runtime, "containers", "auth.json");
        }

        yield return Path.Combine(environment("XDG_CONFIG_HOME") is { Length: > 0 } config ? config : Path.Combine(home, ".config"), "containers", "auth.json");
        yield return Path.Combine(environment("DOCKER_CONFIG") is { Length: > 0 } docker ? docker : Path.Combine(home, ".docker"), "config.json");
    }

    private static bool Serves(string file, string registry)
    {
        try
        {
            if (!File.Exists(file))
            {
                return false;
            }

            using var document = JsonDocument.Parse(File.ReadAllBytes(file));
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return false;
            }

            if (root.TryGetProperty("credsStore", out var store) && store.ValueKind == JsonValueKind.String && store.GetString()!.Length > 0)
            {
                return true;
            }

            return HasKeyFor(root, "credHelpers", registry) || HasKeyFor(root, "auths", registry);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or JsonException)
        {
            return false; // the SDK cannot use it either
        }
    }

    /// <summary>An entry for the registry under any key the credential provider reads for it (Docker Hub's several names, scheme and path ignored).</summary>
    private static bool HasKeyFor(JsonElement root, string section, string registry)
    {
        if (!root.TryGetProperty(section, out var entries) || entries.ValueKind != JsonValueKind.Object)
        {
            return false;
        }

        var keys = DefaultCredentialProvider.CandidateKeys(registry);
        return entries.EnumerateObject().Any(entry => keys.Contains(DefaultCredentialProvider.NormalizeKey(entry.Name)));
    }
}
