namespace MultiArch.Build.Tasks;

/// <summary>How much a log line matters; maps onto MSBuild's message importance.</summary>
internal enum LogLevel
{
    /// <summary>HTTP and retry detail, prefixed <c>MultiArch:</c>; only in detailed logs and binlogs.</summary>
    Low,

    /// <summary>One line per step (per platform, per copied manifest).</summary>
    Normal,

    /// <summary>One line per outcome.</summary>
    High,
}

/// <summary>The logging the plain .NET code uses; the MSBuild tasks route it to <c>TaskLoggingHelper</c>.</summary>
internal interface IBuildLog
{
    void Message(LogLevel level, string message);

    void Warning(string code, string message);
}

/// <summary>Discards everything; for code paths and tests that do not log.</summary>
internal sealed class NullBuildLog : IBuildLog
{
    public static readonly NullBuildLog Instance = new();

    public void Message(LogLevel level, string message)
    {
    }

    public void Warning(string code, string message)
    {
    }
}
