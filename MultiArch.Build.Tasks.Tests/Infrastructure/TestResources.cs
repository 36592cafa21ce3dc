namespace MultiArch.Build.Tasks.Tests.Infrastructure;

/// <summary>
/// What a test starts for itself (proxies, token servers, temp folders), released after each test by the class's
/// <c>[TestCleanup]</c>; when the test did not pass, every <see cref="FaultProxy"/>'s transcript goes to its output first.
/// </summary>
internal sealed class TestResources
{
    private readonly List<IAsyncDisposable> _disposables = [];
    private readonly List<string> _directories = [];

    public T Add<T>(T resource)
        where T : IAsyncDisposable
    {
        lock (_disposables)
        {
            _disposables.Add(resource);
        }

        return resource;
    }

    public string AddDirectory(string directory)
    {
        lock (_directories)
        {
            _directories.Add(directory);
        }

        return directory;
    }

    public async Task CleanupAsync(TestContext context)
    {
        IAsyncDisposable[] disposables;
        string[] directories;
        lock (_disposables)
        {
            disposables = [.. _disposables];
            _disposables.Clear();
        }

        lock (_directories)
        {
            directories = [.. _directories];
            _directories.Clear();
        }

        foreach (var disposable in disposables)
        {
            if (disposable is FaultProxy proxy && context.CurrentTestOutcome != UnitTestOutcome.Passed)
            {
                context.WriteLine($"--- {proxy} ---\n{proxy.Transcript()}");
            }

            await disposable.DisposeAsync();
        }

        foreach (var directory in directories)
        {
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }
        }
    }
}
