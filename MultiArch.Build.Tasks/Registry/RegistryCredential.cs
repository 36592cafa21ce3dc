namespace MultiArch.Build.Tasks.Registry;

/// <summary>
/// A credential for one registry: a user name and password, or an identity (refresh) token.
/// <see cref="ToString"/> never shows the secret, so a credential can't leak through a log line or an exception.
/// </summary>
internal sealed class RegistryCredential
{
    public RegistryCredential(string? username, string? password, string? identityToken, string source)
    {
        Username = username;
        Password = password;
        IdentityToken = identityToken;
        Source = source;
    }

    public string? Username { get; }

    public string? Password { get; }

    public string? IdentityToken { get; }

    /// <summary>Where it came from, for messages ("the environment variables DOTNET_CONTAINER_REGISTRY_UNAME/PWORD").</summary>
    public string Source { get; }

    public bool HasBasic => !string.IsNullOrEmpty(Username) && Password is not null;

    public string ToBasicHeaderValue() =>
        Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"{Username}:{Password}"));

    public override string ToString() => $"credential for '{Username}' from {Source}";
}

/// <summary>What the credential will be used for: the SDK has separate pull and push variables.</summary>
internal enum RegistryAccess
{
    Pull,
    Push,
}

/// <summary>Finds the credential for a registry host (<c>host[:port]</c>); null means anonymous.</summary>
internal interface ICredentialProvider
{
    Task<RegistryCredential?> GetCredentialAsync(string registry, RegistryAccess access, CancellationToken cancellationToken);
}
