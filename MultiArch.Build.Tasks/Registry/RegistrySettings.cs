namespace MultiArch.Build.Tasks.Registry;

/// <summary>
/// Everything the registry client needs to know, passed in as one immutable record (never read from statics).
/// <see cref="FromEnvironment"/> builds it from the variables the .NET SDK already reads.
/// </summary>
internal sealed record RegistrySettings
{
    /// <summary>Hosts (<c>host:port</c>, case-insensitive) allowed plain HTTP or an unverified certificate. <c>localhost</c> always is.</summary>
    public IReadOnlySet<string> InsecureRegistries { get; init; } = new HashSet<string>(StringComparer.OrdinalIgnoreCase);

    /// <summary>Token-service hosts other than the registry's own that may receive credentials (in either <see cref="RealmPolicy"/>).</summary>
    public IReadOnlySet<string> TrustedRealmHosts { get; init; } = new HashSet<string>(StringComparer.OrdinalIgnoreCase);

    /// <summary>Which token services get credentials: the one an HTTPS registry names (the default), or only listed hosts.</summary>
    public RealmPolicy RealmPolicy { get; init; } = RealmPolicy.AsRegistryNames;

    public required ICredentialProvider Credentials { get; init; }

    public IBuildLog Log { get; init; } = NullBuildLog.Instance;

    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long one request may wait for the response headers once its body is sent. Time spent waiting for a free
    /// request slot (<see cref="MaxConcurrency"/>) does not count, nor does the time a streamed body takes.
    /// </summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(100);

    /// <summary>
    /// How long a body transfer (an upload streamed from another registry, a response body) may go without a byte moving;
    /// null is <see cref="RequestTimeout"/>. A transfer that keeps moving takes as long as it needs.
    /// </summary>
    public TimeSpan? IdleTimeout { get; init; }

    /// <summary><see cref="IdleTimeout"/>, or <see cref="RequestTimeout"/> when it is not set.</summary>
    public TimeSpan BodyIdleTimeout => IdleTimeout ?? RequestTimeout;

    /// <summary>
    /// How many requests run side by side (each an HTTP/1.1 connection of its own). The first step of a push reads
    /// N + 1 manifests at once and each config read starts as its manifest arrives, so 128 keeps the sequential depth of
    /// a push flat up to 100 sources from the target's repository (the widest step from other repositories, one mount
    /// per blob of every child, up to about 40); beyond that it grows by one round trip per 128 requests.
    /// </summary>
    public int MaxConcurrency { get; init; } = DefaultMaxConcurrency;

    public const int DefaultMaxConcurrency = 128;

    /// <summary>Retries after the first attempt, for idempotent requests.</summary>
    public int MaxRetries { get; init; } = 5;

    /// <summary>The first retry delay; it doubles each time, with jitter.</summary>
    public TimeSpan RetryBaseDelay { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>The longest <c>Retry-After</c> honoured; a longer one fails fast.</summary>
    public TimeSpan MaxRetryAfter { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Test seam: the innermost handler. Null uses a <see cref="SocketsHttpHandler"/>.</summary>
    public Func<HttpMessageHandler>? TransportFactory { get; init; }

    /// <summary>Build-wide state (tokens, challenges, schemes, notices); share one across the tasks of a build.</summary>
    public RegistryBuildState State { get; init; } = new();

    public string UserAgent { get; init; } = "MultiArch.Build.Tasks/" + typeof(RegistrySettings).Assembly.GetName().Version?.ToString(3);

    public bool IsInsecure(string registry)
    {
        var host = HostOf(registry);
        return host.Equals("localhost", StringComparison.OrdinalIgnoreCase) || InsecureRegistries.Contains(registry);
    }

    public bool IsInsecureHost(string host) =>
        host.Equals("localhost", StringComparison.OrdinalIgnoreCase) || InsecureRegistries.Any(r => HostOf(r).Equals(host, StringComparison.OrdinalIgnoreCase));

    public static string HostOf(string registry)
    {
        if (registry.StartsWith('['))
        {
            var close = registry.IndexOf(']', StringComparison.Ordinal);
            return close > 0 ? registry[1..close] : registry;
        }

        var colon = registry.LastIndexOf(':');
        return colon >= 0 ? registry[..colon] : registry;
    }

    /// <summary>
    /// Settings from the environment: <c>DOTNET_CONTAINER_INSECURE_REGISTRIES</c> (semicolon-separated <c>host:port</c>,
    /// as the SDK reads it) and the credential variables and files of <see cref="DefaultCredentialProvider"/>.
    /// <paramref name="buildState"/> is the build's shared cache (a new one when null).
    /// </summary>
    public static RegistrySettings FromEnvironment(Func<string, string?> environment, IBuildLog log, RegistryBuildState? buildState = null)
    {
        var cache = buildState ?? new RegistryBuildState();
        return new()
        {
            InsecureRegistries = SplitList(environment("DOTNET_CONTAINER_INSECURE_REGISTRIES"), ';'),
            Credentials = new DefaultCredentialProvider(environment, log, buildCache: cache),
            Log = log,
            State = cache,
        };
    }

    public static HashSet<string> SplitList(string? value, params char[] separators) =>
        new((value ?? string.Empty).Split(separators, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries), StringComparer.OrdinalIgnoreCase);
}

/// <summary>Which token services (the <c>realm</c> of a Bearer challenge) may receive the registry's credentials.</summary>
internal enum RealmPolicy
{
    /// <summary>
    /// As docker, containerd and the .NET SDK: the registry's own host, a listed host, or the token service an HTTPS
    /// registry names over HTTPS, unless the registry is public and the token service's address is loopback or private.
    /// </summary>
    AsRegistryNames,

    /// <summary>Only the registry's own host, Docker Hub's token service and the hosts listed in <c>ContainerRegistryTrustedRealms</c>.</summary>
    Strict,
}
