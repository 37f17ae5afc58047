@echo off
rem GenMix Workbench for Windows, one command:   run.bat
rem First use: installs into .venv (needs Python 3.10+ and the package index once). Then loads the shipped
rem sample data into the "default" project if it is empty and starts the app on this PC only.
rem Open http://127.0.0.1:8501 in a browser; Ctrl+C here stops it.
setlocal
cd /d "%~dp0"
if exist .venv\.genmix-runtime goto start
if not exist .venv\Scripts\python.exe (
  py -3 -m venv .venv 2>nul || python -m venv .venv || goto nopython
)
.venv\Scripts\python -m pip install --upgrade pip || goto failed
.venv\Scripts\python -m pip install -r requirements.txt || goto failed
type nul > .venv\.genmix-runtime
:start
if not defined HF_HUB_OFFLINE set HF_HUB_OFFLINE=1
.venv\Scripts\python scripts\first_run.py || goto failed
echo GenMix Workbench: open http://127.0.0.1:8501 in your browser (Ctrl+C here stops it).
.venv\Scripts\python -m streamlit run app.py %*
goto :eof
:nopython
echo Python 3.10 or newer was not found. Install it from python.org (tick "Add python.exe to PATH"), then run run.bat again.
exit /b 1
:failed
echo The setup did not finish. Check the internet connection (or PIP_INDEX_URL) and run run.bat again.
exit /b 1
