namespace MultiArch.Build.Tasks.Tests.Infrastructure;

/// <summary>
/// One registry per mode for the whole test run, started on first use (in parallel with each other) and stopped in
/// <see cref="AssemblyHooks.CleanupAsync"/>. Tests share them, so they must use their own repository names
/// (<see cref="TestNames.Repository"/>). A registry that fails to start fails every test that asks for it, with its log.
/// </summary>
internal static class TestRegistries
{
    private static readonly Lazy<Task<RegistryServer>> _open = Create(new RegistryOptions(RegistryMode.Open));
    private static readonly Lazy<Task<RegistryServer>> _openNoDelete = Create(new RegistryOptions(RegistryMode.Open) { DeleteEnabled = false });
    private static readonly Lazy<Task<RegistryServer>> _basic = Create(new RegistryOptions(RegistryMode.Basic));
    private static readonly Lazy<Task<RegistryServer>> _tls = Create(new RegistryOptions(RegistryMode.Tls));
    private static readonly Lazy<Task<RegistryServer>> _token = Create(new RegistryOptions(RegistryMode.Token));

    /// <summary>Plain HTTP, no auth, deletes enabled.</summary>
    public static Task<RegistryServer> Open => _open.Value;

    /// <summary>Plain HTTP, no auth, <c>storage.delete.enabled: false</c>.</summary>
    public static Task<RegistryServer> OpenNoDelete => _openNoDelete.Value;

    /// <summary>Plain HTTP, htpasswd Basic auth.</summary>
    public static Task<RegistryServer> Basic => _basic.Value;

    /// <summary>HTTPS with a test CA, no auth.</summary>
    public static Task<RegistryServer> Tls => _tls.Value;

    /// <summary>Plain HTTP, bearer tokens from an in-process token server (anonymous pull allowed).</summary>
    public static Task<RegistryServer> Token => _token.Value;

    /// <summary>The shared registry for <paramref name="mode"/> (deletes enabled).</summary>
    public static Task<RegistryServer> Get(RegistryMode mode) => mode switch
    {
        RegistryMode.Open => Open,
        RegistryMode.Basic => Basic,
        RegistryMode.Tls => Tls,
        RegistryMode.Token => Token,
        _ => throw new ArgumentOutOfRangeException(nameof(mode), mode, null),
    };

    /// <summary>The registries started so far (successfully), for diagnostics.</summary>
    public static IReadOnlyList<RegistryServer> Started =>
        [.. All.Where(l => l.IsValueCreated && l.Value.IsCompletedSuccessfully).Select(l => l.Value.Result)];

    /// <summary>Stops every registry that was started. Called once, after the last test.</summary>
    public static async Task DisposeAllAsync()
    {
        var started = All.Where(l => l.IsValueCreated).Select(l => l.Value).ToList();
        var errors = new List<Exception>();
        foreach (var task in started)
        {
            try
            {
                await (await task).DisposeAsync();
            }
            catch (Exception ex) when (task.IsFaulted)
            {
                _ = ex; // it never started: the tests that used it already failed with the reason
            }
            catch (Exception ex)
            {
                errors.Add(ex);
            }
        }

        if (errors.Count > 0)
        {
            throw new AggregateException("Stopping the test registries failed.", errors);
        }
    }

    private static IEnumerable<Lazy<Task<RegistryServer>>> All => [_open, _openNoDelete, _basic, _tls, _token];

    private static Lazy<Task<RegistryServer>> Create(RegistryOptions options) =>
        new(() => Task.Run(() => RegistryServer.StartAsync(options)), LazyThreadSafetyMode.ExecutionAndPublication);
}
