using System.Collections;
using Microsoft.Build.Framework;

namespace MultiArch.Build.Tasks.Tests.Infrastructure;

/// <summary>A build engine that records what a task logs, as <c>CODE: message</c> lines, and keeps task objects.</summary>
internal sealed class FakeBuildEngine : IBuildEngine4
{
    private readonly Dictionary<object, object> _objects = [];
    private readonly List<BuildErrorEventArgs> _errors = [];
    private readonly List<BuildWarningEventArgs> _warnings = [];
    private readonly List<BuildMessageEventArgs> _messages = [];

    public IReadOnlyList<BuildErrorEventArgs> Errors => _errors;

    public IReadOnlyList<BuildWarningEventArgs> Warnings => _warnings;

    public IReadOnlyList<BuildMessageEventArgs> Messages => _messages;

    /// <summary>Every error as <c>CODE: message</c>.</summary>
    public IEnumerable<string> ErrorLines => _errors.Select(e => $"{e.Code}: {e.Message}");

    public string AllText => string.Join('\n', _errors.Select(e => $"{e.Code}: {e.Message}").Concat(_warnings.Select(w => $"{w.Code}: {w.Message}")).Concat(_messages.Select(m => m.Message)));

    public string HighText => string.Join('\n', _messages.Where(m => m.Importance == MessageImportance.High).Select(m => m.Message));

    public bool IsRunningMultipleNodes => false;

    public bool ContinueOnError => false;

    public int LineNumberOfTaskNode => 0;

    public int ColumnNumberOfTaskNode => 0;

    public string ProjectFileOfTaskNode => "test.proj";

    public void LogErrorEvent(BuildErrorEventArgs e)
    {
        lock (_errors)
        {
            _errors.Add(e);
        }
    }

    public void LogWarningEvent(BuildWarningEventArgs e)
    {
        lock (_warnings)
        {
            _warnings.Add(e);
        }
    }

    public void LogMessageEvent(BuildMessageEventArgs e)
    {
        lock (_messages)
        {
            _messages.Add(e);
        }
    }

    public void LogCustomEvent(CustomBuildEventArgs e)
    {
    }

    public bool BuildProjectFile(string projectFileName, string[] targetNames, IDictionary globalProperties, IDictionary targetOutputs) => throw new NotSupportedException();

    public bool BuildProjectFile(string projectFileName, string[] targetNames, IDictionary globalProperties, IDictionary targetOutputs, string toolsVersion) => throw new NotSupportedException();

    public bool BuildProjectFilesInParallel(string[] projectFileNames, string[] targetNames, IDictionary[] globalProperties, IDictionary[] targetOutputsPerProject, string[] toolsVersion, bool useResultsCache, bool unloadProjectsOnCompletion) => throw new NotSupportedException();

    public BuildEngineResult BuildProjectFilesInParallel(string[] projectFileNames, string[] targetNames, IDictionary[] globalProperties, IList<string>[] removeGlobalProperties, string[] toolsVersion, bool returnTargetOutputs) => throw new NotSupportedException();

    public void Yield()
    {
    }

    public void Reacquire()
    {
    }

    /// <summary>Behave like a task host that keeps no build-wide objects: the task-object calls throw <see cref="NotImplementedException"/>.</summary>
    public bool WithoutTaskObjects { get; init; }

    public void RegisterTaskObject(object key, object obj, RegisteredTaskObjectLifetime lifetime, bool allowEarlyCollection)
    {
        if (WithoutTaskObjects)
        {
            throw new NotImplementedException();
        }

        _objects[key] = obj;
    }

    public object? GetRegisteredTaskObject(object key, RegisteredTaskObjectLifetime lifetime) =>
        WithoutTaskObjects ? throw new NotImplementedException() : _objects.TryGetValue(key, out var value) ? value : null;

    public object? UnregisterTaskObject(object key, RegisteredTaskObjectLifetime lifetime) => _objects.Remove(key, out var value) ? value : null;
}
