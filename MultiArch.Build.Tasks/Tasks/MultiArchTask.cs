using Microsoft.Build.Framework;
using MultiArch.Build.Tasks.Registry;
using BuildTask = Microsoft.Build.Utilities.Task;

namespace MultiArch.Build.Tasks.Tasks;

/// <summary>
/// The base of every task: runs the async work, honours MSBuild cancellation, and turns every failure into one
/// coded error (details of unexpected ones at low importance only, never a stack trace on the console).
/// </summary>
public abstract class MultiArchTask : BuildTask, ICancelableTask
{
    private readonly CancellationTokenSource _cancellation = new();
    private readonly System.Diagnostics.Stopwatch _stopwatch = new();
    private TimeSpan _processorTimeAtStart;

    /// <summary>Seconds one registry request may wait for its response headers (default 100).</summary>
    public string? RegistryTimeout { get; set; }

    /// <summary>Seconds to wait for a TCP/TLS connection to a registry (default 30).</summary>
    public string? ConnectTimeout { get; set; }

    /// <summary>Seconds the whole task may take (default 1800); then it stops and leaves every tag unchanged.</summary>
    public string? OperationTimeout { get; set; }

    /// <summary>How many registry requests may run side by side (default 128).</summary>
    public int MaxParallelism { get; set; }

    /// <summary>
    /// Empty: credentials go to the token service an HTTPS registry names (as docker does). Set: the strict rule, only
    /// the registry's own host and the hosts listed here (semicolon-separated; <c>strict</c> alone lists none).
    /// </summary>
    public string? TrustedRealms { get; set; }

    /// <summary>Test seam: the environment the credentials and insecure-registry list are read from.</summary>
    internal Func<string, string?> Environment { get; set; } = System.Environment.GetEnvironmentVariable;

    /// <summary>Test seam: the innermost HTTP handler.</summary>
    internal Func<HttpMessageHandler>? TransportFactory { get; set; }

    /// <summary>Test seam: adjusts the settings last (short retry delays, a small Retry-After limit).</summary>
    internal Func<RegistrySettings, RegistrySettings>? ConfigureSettings { get; set; }

    public void Cancel() => _cancellation.Cancel();

    public override bool Execute()
    {
        _stopwatch.Restart();
        _processorTimeAtStart = ProcessorTime();
        TimeSpan operationTimeout;
        try
        {
            operationTimeout = Seconds(OperationTimeout, "ContainerRegistryOperationTimeout") ?? TimeSpan.FromMinutes(30);
        }
        catch (MultiArchException ex)
        {
            LogError(ex);
            return false;
        }

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(_cancellation.Token);
        deadline.CancelAfter(operationTimeout);
        try
        {
            ExecuteAsync(deadline.Token).GetAwaiter().GetResult();
        }
        catch (Exception ex) when (_cancellation.IsCancellationRequested)
        {
            // Whatever the stopped work threw on its way out (a cancelled request, a killed credential helper, a
            // connection torn down), the reason is the cancellation.
            LogError(MultiArchException.Create(ex, MessageId.Cancelled));
        }
        catch (Exception ex) when (deadline.IsCancellationRequested)
        {
            LogError(MultiArchException.Create(ex, MessageId.OperationTimedOut, GetType().Name, operationTimeout.TotalSeconds));
        }
        catch (MultiArchException ex)
        {
            LogError(ex);
        }
        catch (Exception ex)
        {
            var (code, text) = Messages.Format(MessageId.UnexpectedError, GetType().Name, ex.Message);
            Log.LogError(null, code, null, null, 0, 0, 0, 0, text);
            Log.LogMessage(MessageImportance.Low, "MultiArch: " + ex);
        }

        return !Log.HasLoggedErrors;
    }

    private protected abstract Task ExecuteAsync(CancellationToken cancellationToken);

    private void LogError(MultiArchException ex)
    {
        if (ex.File is { } file)
        {
            // The error's own place (a manifest spec's line and column), so IDE and CI annotations point at it.
            Log.LogError(null, ex.Code, null, FullPath(file), ex.Line, ex.Column, 0, 0, ex.MessageWithoutLocation);
        }
        else
        {
            Log.LogError(null, ex.Code, null, null, 0, 0, 0, 0, ex.Message);
        }

        if (ex.InnerException is not null)
        {
            Log.LogMessage(MessageImportance.Low, "MultiArch: " + ex.InnerException.GetType().Name + ": " + ex.InnerException.Message);
        }
    }

    private static string FullPath(string file)
    {
        try
        {
            return Path.GetFullPath(file);
        }
        catch (Exception ex) when (ex is ArgumentException or NotSupportedException or PathTooLongException)
        {
            return file;
        }
    }

    private protected IBuildLog BuildLog => new TaskBuildLog(Log);

    /// <summary>
    /// The task's own cost, at low importance: its registry requests (token requests included), its time from
    /// <see cref="Execute"/> on, without MSBuild's start-up, and the processor time the process spent meanwhile (the
    /// task's work, the JIT's and MSBuild's logging; unlike the time, it barely moves with the machine's load).
    /// eng/bench-registry.sh reads this line.
    /// </summary>
    private protected void LogRequestSummary(RegistryClient client)
    {
        var invariant = System.Globalization.CultureInfo.InvariantCulture;
        var processor = (ProcessorTime() - _processorTimeAtStart).TotalMilliseconds;
        Log.LogMessage(MessageImportance.Low, $"MultiArch: {GetType().Name}: {client.RequestCount} registry requests in {_stopwatch.Elapsed.TotalMilliseconds.ToString("0", invariant)} ms ({processor.ToString("0", invariant)} ms of processor time).");
    }

    private static TimeSpan ProcessorTime()
    {
        using var process = System.Diagnostics.Process.GetCurrentProcess();
        return process.TotalProcessorTime;
    }

    /// <summary>Settings from the environment and the task's parameters; the auth cache is shared by every task of the build.</summary>
    private protected RegistrySettings CreateSettings()
    {
        var settings = RegistrySettings.FromEnvironment(Environment, BuildLog, SharedBuildState());
        if (Seconds(RegistryTimeout, "ContainerRegistryTimeout") is { } requestTimeout)
        {
            settings = settings with { RequestTimeout = requestTimeout };
        }

        if (Seconds(ConnectTimeout, "ContainerRegistryConnectTimeout") is { } connectTimeout)
        {
            settings = settings with { ConnectTimeout = connectTimeout };
        }

        if (MaxParallelism > 0)
        {
            settings = settings with { MaxConcurrency = MaxParallelism };
        }

        // Any value turns the strict realm rule on: only the hosts listed ('strict' alone lists none) get credentials.
        var trustedRealms = RegistrySettings.SplitList(TrustedRealms, ';', ',');
        trustedRealms.Remove("strict");
        settings = settings with
        {
            TrustedRealmHosts = trustedRealms,
            RealmPolicy = string.IsNullOrWhiteSpace(TrustedRealms) ? RealmPolicy.AsRegistryNames : RealmPolicy.Strict,
            TransportFactory = TransportFactory,
        };
        return ConfigureSettings?.Invoke(settings) ?? settings;
    }

    private RegistryBuildState SharedBuildState()
    {
        if (BuildEngine is not IBuildEngine4 engine)
        {
            return new RegistryBuildState();
        }

        const string Key = "MultiArch.Build.Tasks.RegistryBuildState";
        try
        {
            if (engine.GetRegisteredTaskObject(Key, RegisteredTaskObjectLifetime.Build) is RegistryBuildState existing)
            {
                return existing;
            }

            var state = new RegistryBuildState();
            engine.RegisterTaskObject(Key, state, RegisteredTaskObjectLifetime.Build, allowEarlyCollection: false);
            return state;
        }
        catch (Exception ex) when (ex is NotImplementedException or NotSupportedException or InvalidOperationException)
        {
            // A task host that keeps no build-wide objects: this task gets state of its own (tokens are fetched again).
            Log.LogMessage(MessageImportance.Low, "MultiArch: the build engine keeps no build-wide objects here (" + ex.GetType().Name + "); this task uses state of its own.");
            return new RegistryBuildState();
        }
    }

    private static TimeSpan? Seconds(string? value, string property)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            return null;
        }

        if (!double.TryParse(value, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var seconds) || seconds <= 0 || seconds > 86400)
        {
            throw MultiArchException.Create(MessageId.InvalidTimeout, property, value);
        }

        return TimeSpan.FromSeconds(seconds);
    }
}

/// <summary>Routes <see cref="IBuildLog"/> to MSBuild.</summary>
internal sealed class TaskBuildLog : IBuildLog
{
    private readonly Microsoft.Build.Utilities.TaskLoggingHelper _log;

    public TaskBuildLog(Microsoft.Build.Utilities.TaskLoggingHelper log) => _log = log;

    public void Message(LogLevel level, string message) => _log.LogMessage(level switch
    {
        LogLevel.High => MessageImportance.High,
        LogLevel.Normal => MessageImportance.Normal,
        _ => MessageImportance.Low,
    }, message);

    public void Warning(string code, string message) => _log.LogWarning(null, code, null, null, 0, 0, 0, 0, message);
}
