# The app in one image: `docker compose up` (compose.yaml) runs two web processes behind a
# proxy with sticky sessions, one training worker, and a volume for the runs.
FROM python:3.11-slim

# Fonts for the typed digits the fast default learns from (cnn/fonts.py looks for DejaVu and
# Liberation): without them it trains without typed digits and reads typed ones worse.
RUN apt-get update \
 && apt-get install -y --no-install-recommends fonts-dejavu-core fonts-liberation \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .

ENV CNN_RUNS_DIR=/runs \
    PYTHONUNBUFFERED=1
VOLUME /runs
EXPOSE 8501
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health')"
CMD ["streamlit", "run", "app.py", "--server.address=0.0.0.0", "--server.port=8501"]
