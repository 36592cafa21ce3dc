using System.Net.Http.Headers;
using MultiArch.Build.Tasks.Oci;

namespace MultiArch.Build.Tasks.Registry;

/// <summary>One registry request, re-creatable for retries, re-authentication and redirects.</summary>
internal sealed record RegistryRequest(string Registry, HttpMethod Method, string PathAndQuery)
{
    public IReadOnlyList<string> Scopes { get; init; } = [];

    public IReadOnlyList<string> Accept { get; init; } = [];

    public Func<HttpContent>? Content { get; init; }

    /// <summary>GET, HEAD, PUT of a manifest and mounts may be retried; uploads with streamed bodies may not.</summary>
    public bool Idempotent { get; init; }

    /// <summary>The manifest a PUT sends, for the error that names its media type when the registry refuses it.</summary>
    public ManifestContent? Manifest { get; init; }

    /// <summary>The path is an absolute URL (an upload location the registry handed out, a redirect's target).</summary>
    public bool AbsoluteLocation { get; init; }

    /// <summary>A GET or HEAD whose redirects are followed (<see cref="RedirectHandler"/>).</summary>
    public bool FollowRedirects { get; init; }

    /// <summary>A hop of a redirect: another origin there may get a token of its own (<see cref="AuthHandler"/>).</summary>
    public bool IsRedirectHop { get; init; }

    /// <summary>Set by <see cref="AuthHandler"/> for the send; never set by the operations.</summary>
    public AuthenticationHeaderValue? Authorization { get; init; }

    public bool IsRetryable => Idempotent || Method == HttpMethod.Get || Method == HttpMethod.Head;

    /// <summary>The URL, with <paramref name="scheme"/> unless the path is absolute already.</summary>
    public Uri UriFor(string scheme) =>
        AbsoluteLocation ? new Uri(PathAndQuery) : new Uri($"{scheme}://{ApiAuthority(Registry)}{PathAndQuery}");

    /// <summary>The path without its query (upload locations carry state), for log lines and messages.</summary>
    public string PathOnly
    {
        get
        {
            if (AbsoluteLocation && Uri.TryCreate(PathAndQuery, UriKind.Absolute, out var absolute))
            {
                return absolute.AbsolutePath;
            }

            var query = PathAndQuery.IndexOf('?', StringComparison.Ordinal);
            return query >= 0 ? PathAndQuery[..query] : PathAndQuery;
        }
    }

    /// <summary>Where a registry's API is: Docker Hub's name stands for <c>registry-1.docker.io</c>.</summary>
    public static string ApiAuthority(string registry) => registry == ImageReference.DockerHub ? "registry-1.docker.io" : registry;

    public static string PullScope(string repository) => $"repository:{repository}:pull";

    public static string PushScope(string repository) => $"repository:{repository}:pull,push";

    public static string ScopeFor(string repository, RegistryAccess access) => access == RegistryAccess.Push ? PushScope(repository) : PullScope(repository);
}

/// <summary>One step of the send pipeline: <see cref="RedirectHandler"/> → <see cref="RetryHandler"/> → <see cref="SchemeHandler"/> → <see cref="AuthHandler"/> → <see cref="RegistryWire"/>.</summary>
internal interface IRegistrySender
{
    Task<HttpResponseMessage> SendAsync(RegistryRequest request, CancellationToken cancellationToken);
}
